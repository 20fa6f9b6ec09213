"""The attribute manipulation serving module: "this item, but attribute a = v" over ADDE's
disentangled representation and memory block.

An export (`tfgrad.export.versioned`) holds, over the model and every catalogue item's
representation f and attribute values:
  manipulate   item id (a catalogue item: its stored f and values, itself excluded) or image
               bytes (JPEG or PNG, resized with padding to the model's size; its old values
               are the classifiers' predictions), attributes [C] and new values [C] (strings,
               one change per attribute), k → item ids [k], cosine scores [k], photos [k];
               f′ = f + M (onehot(new) − onehot(old)), normalised, searched among the unit
               representations by ScaNN (exactly in the `_stock` twin). Also
               `serving_default`;
  walk,        the walk from the reference toward f′ (`tfgrad.export.walk`, the same module
  walk_exact   as CGIR's): attributes are "attribute=value" keys, "more" the new value and
               "less" the old one, e.g. attribute="baseColour=Navy Blue,baseColour=Red",
               direction="less,more"; γ = 1 is f′.
Unknown attributes, values or items, repeated attributes and k out of range fail with
InvalidArgumentError naming them (the server's INVALID_ARGUMENT).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from tfgrad.data.attributes import MISSING
from tfgrad.data.images import decode_photo_bytes, normalize_images
from tfgrad.export.versioned import check_input, save_export_pair, string_to_index_table
from tfgrad.export.walk import WalkServingModule
from tfgrad.retrieval.gradual import GradualSettings
from tfgrad.retrieval.index import ScannSettings, build_index
from tfgrad.spaces import ItemSpace

MANIPULATE_SIGNATURE = "manipulate"
MAX_K = 1000

_MANIPULATE_INPUTS = [tf.TensorSpec([], tf.string, name="item_id"),
                      tf.TensorSpec([], tf.string, name="image"),
                      tf.TensorSpec([None], tf.string, name="attributes"),
                      tf.TensorSpec([None], tf.string, name="values"),
                      tf.TensorSpec([], tf.int32, name="k")]


def value_keys(attributes: Sequence[str], values: Sequence[Sequence[str]]) -> list[str]:
    """"attribute=value" for every value, in the memory block's row order."""
    return [f"{attribute}={value}" for attribute, names in zip(attributes, values)
            for value in names]


class ManipulateServingModule(tf.Module):
    """The `manipulate` signature over a model with `embed`, `classify`, `manipulate` and
    `image_size` (ADDE).

    Args:
      model: the trained model.
      item_ids: [M] the catalogue's ids.
      item_features: [M, D] their unnormalised representations f.
      item_labels: [M, A] their value indices (-1 missing).
      item_photos: [M] PNG or JPEG bytes (returned with the results).
      attributes: the A attribute names; values: per attribute, its value names.
      items: the catalogue's table, for assets.extra/items.tsv.
      with_scann: search with ScaNN (else exactly, stock ops only).
      walks: a `WalkServingModule` over the same items, whose signatures are added.
    """

    def __init__(self, model, item_ids, item_features: np.ndarray, item_labels: np.ndarray,
                 item_photos, attributes: Sequence[str], values: Sequence[Sequence[str]],
                 items: pd.DataFrame, with_scann: bool, walks=None):
        super().__init__(name="tfgrad_manipulate")
        self.walks = walks
        self.model = model
        self.image_size = int(model.image_size)
        self.num_items = len(item_ids)
        self.num_values = [len(names) for names in values]
        self.item_lookup = string_to_index_table(item_ids)
        self.attribute_lookup = string_to_index_table(attributes)
        self.value_lookup = string_to_index_table(value_keys(attributes, values))
        self.offsets = tf.constant(np.concatenate([[0], np.cumsum(self.num_values)[:-1]]),
                                   tf.int32)
        self.item_ids = tf.Variable(np.asarray(item_ids, str), dtype=tf.string,
                                    trainable=False)
        self.item_features = tf.Variable(np.asarray(item_features, np.float32),
                                         trainable=False)
        self.item_labels = tf.Variable(np.asarray(item_labels, np.int32), trainable=False)
        self.item_photos = tf.Variable(list(item_photos), dtype=tf.string, trainable=False)
        self.index = build_index(tf.math.l2_normalize(self.item_features, axis=1),
                                 "scann" if with_scann else "brute_force",
                                 ScannSettings.for_catalogue(len(item_ids)))
        self.with_scann = with_scann
        self._items_table = items
        self.known_attributes = ", ".join(attributes)
        self.manipulate = tf.function(self._manipulate, input_signature=_MANIPULATE_INPUTS)

    def items_table(self) -> pd.DataFrame:
        return self._items_table

    def signatures(self) -> dict:
        walks = {} if self.walks is None else {
            name: signature for name, signature in self.walks.signatures().items()
            if name != "serving_default"}
        return {**walks, MANIPULATE_SIGNATURE: self.manipulate,
                "serving_default": self.manipulate}

    def _reference(self, item_id, image):
        """(f [D], values [A], catalogue row or -1): given bytes win over the id."""
        item = self.item_lookup.lookup(item_id)
        given_photo = tf.strings.length(image) > 0
        known = check_input((item >= 0) | given_photo,
                            "unknown item id (or give image bytes):", item_id)
        with tf.control_dependencies([known]):
            row = tf.maximum(item, 0)

            def from_photo():
                photo = normalize_images(decode_photo_bytes(image, self.image_size))[None]
                return (self.model.embed(photo)[0],
                        tf.cast(self.model.classify(photo)[0], tf.int32))

            features, labels = tf.cond(
                given_photo, from_photo,
                lambda: (tf.gather(self.item_features, row), tf.gather(self.item_labels, row)))
        return features, labels, tf.where(given_photo, -1, item)

    def _indicator(self, labels, attributes, values):
        """[ΣV] +1 at every new value, −1 at the old value of each changed attribute."""
        count = tf.size(attributes)
        attribute_rows = self.attribute_lookup.lookup(attributes)
        value_columns = self.value_lookup.lookup(attributes + "=" + values)
        checks = [
            check_input((count >= 1) & tf.equal(count, tf.size(values)),
                        "give one value per attribute (at least one); attributes, values:",
                        tf.stack([tf.strings.as_string(count),
                                  tf.strings.as_string(tf.size(values))])),
            check_input(tf.reduce_all(attribute_rows >= 0),
                        f"unknown attribute(s); known: {self.known_attributes}; got",
                        attributes),
            check_input(tf.reduce_all(value_columns >= 0) | tf.reduce_any(attribute_rows < 0),
                        "unknown value(s) (the export's metadata lists every attribute's "
                        "values):", attributes + "=" + values),
            check_input(tf.equal(tf.size(tf.unique(attribute_rows).y), count),
                        "an attribute is changed twice in", attributes)]
        with tf.control_dependencies(checks):
            attribute_rows = tf.maximum(attribute_rows, 0)
            old = tf.gather(labels, attribute_rows)
            old_columns = tf.gather(self.offsets, attribute_rows) + old
            total = sum(self.num_values)
            added = tf.reduce_sum(tf.one_hot(tf.maximum(value_columns, 0), total), axis=0)
            removed = tf.reduce_sum(tf.one_hot(old_columns, total)
                                    * tf.cast(old != MISSING, tf.float32)[:, None], axis=0)
        return added - removed

    def _manipulate(self, item_id, image, attributes, values, k):
        limit = min(MAX_K, self.num_items - 1)
        k_check = check_input((k >= 1) & (k <= limit), f"k must be in 1..{limit}, got", k)
        with tf.control_dependencies([k_check]):
            features, labels, row = self._reference(item_id, image)
            indicator = self._indicator(labels, attributes, values)
            query = tf.math.l2_normalize(
                self.model.manipulate(features[None], indicator[None]), axis=1)
            scores, found = self.index.search(query, k + 1)
            # Drop the reference itself (an id query), else the last of the k + 1.
            keep = found[0] != row
            keep = keep & (tf.cumsum(tf.cast(keep, tf.int32)) <= k)
            found, scores = tf.boolean_mask(found[0], keep), tf.boolean_mask(scores[0], keep)
        return {"item_ids": tf.gather(self.item_ids, found), "scores": scores,
                "images": tf.gather(self.item_photos, found)}


def export_manipulate(model, space: ItemSpace, item_labels: np.ndarray, item_photos,
                      attributes: Sequence[str], values: Sequence[Sequence[str]],
                      step_size: float, export_dir: str, name: str, metadata: dict,
                      decoding: str = "greedy", gradual: GradualSettings = GradualSettings()
                      ) -> str:
    """Exports the model and its walkable item space (`move_vectors` = the representations f)
    as `<export_dir>/<name>/` (ScaNN) and its stock twin; returns the version path. The
    metadata lists every attribute's values (what the CLI names when a value is unknown)
    and how walks decode by default."""
    metadata = {**metadata, "image_size": int(model.image_size), "items": space.num_items,
                "attributes": {attribute: list(names)
                               for attribute, names in zip(attributes, values)},
                "walk_attributes": list(space.attributes), "step_size": step_size,
                "decoding": decoding, "gradual": dataclasses.asdict(gradual)}
    items = space.items_table()
    return save_export_pair(
        lambda with_scann: ManipulateServingModule(
            model, space.item_ids, space.move_vectors, item_labels, item_photos, attributes,
            values, items, with_scann,
            walks=WalkServingModule(space, step_size, with_scann=with_scann,
                                    decoding=decoding, gradual=gradual)),
        export_dir, name, metadata)
