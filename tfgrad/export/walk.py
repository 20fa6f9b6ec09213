"""The walk serving module: raw item id + attribute words in, item ids per step out.

An export (`tfgrad.export.versioned`) holds, over one item space:
  walk        ScaNN search (loading needs `import scann` first, which registers its ops);
  walk_exact  brute force with stock TensorFlow ops (also `serving_default`);
the `_stock` twin holds `walk_exact` alone. Both decode "greedy" or "gradual"
(`tfgrad.retrieval.gradual`, with the items' estimated levels and the decoder's weights stored
in the export, so a served walk decodes as the evaluated one did); "" asks for the export's
default. Any `ItemSpace` with an attribute move exports this way, whatever model made it.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import pandas as pd
import tensorflow as tf

from tfgrad.export.versioned import (RELEVANCE_PREFIX, check_input, save_export_pair,
                                     string_to_index_table)
from tfgrad.retrieval.gradual import DECODINGS, GradualSettings
from tfgrad.retrieval.index import BruteForceIndex, ScannIndex, ScannSettings, as_constant_variable
from tfgrad.retrieval.walk import Walker
from tfgrad.spaces import ItemSpace

WALK_SIGNATURE = "walk"
WALK_EXACT_SIGNATURE = "walk_exact"

_INPUT_SIGNATURE = [
    tf.TensorSpec([None], tf.string, name="item"),
    tf.TensorSpec([None], tf.string, name="attribute"),
    tf.TensorSpec([None], tf.string, name="direction"),
    tf.TensorSpec([], tf.int32, name="steps"),
    tf.TensorSpec([], tf.string, name="decoding"),
]


def relevance_metadata(relevance: np.ndarray, attributes) -> pd.DataFrame:
    """[M, T] true relevance as items-table columns (`relevance:<attribute>`), which the walk
    CLI prints beside each step."""
    return pd.DataFrame(np.round(relevance, 4),
                        columns=[RELEVANCE_PREFIX + attribute for attribute in attributes])


class WalkServingModule(tf.Module):
    """Resolves raw strings in the graph and walks; see the module docstring for signatures.

    Inputs (per request of B walks): item [B] external ids; attribute [B] attribute strings,
    several joined by commas ("floral,dark"); direction [B] "more"/"less", one per attribute
    ("more,less"); steps, the walk length N; decoding, "greedy", "gradual" or "" (the
    export's default). Outputs: item_ids, item_names, scores [B, N] and strengths [N] (γ_n).
    An export of a space without estimated levels decodes greedily only.
    """

    def __init__(self, space: ItemSpace, step_size: float,
                 scann_settings: Optional[ScannSettings] = None, with_scann: bool = True,
                 decoding: str = "greedy", gradual: GradualSettings = GradualSettings()):
        super().__init__(name="tfgrad_walk")
        if not space.walkable or len(space.attributes) != space.move.num_attributes:
            raise ValueError("a walk export needs an item space with an attribute move and "
                             "the names of its attributes")
        if decoding not in DECODINGS or (decoding == "gradual" and space.levels is None):
            raise ValueError(f"cannot export default decoding {decoding!r} for a space "
                             f"{'without' if space.levels is None else 'with'} levels")
        self._items_table = space.items_table()
        item_vectors = as_constant_variable(space.item_vectors, "item_vectors")
        levels = (None if space.levels is None
                  else as_constant_variable(space.levels, "item_levels"))
        self.decodings = DECODINGS if levels is not None else ("greedy",)
        self.default_decoding = decoding
        self.exact = Walker(item_vectors, space.move, BruteForceIndex(item_vectors),
                            reference_vectors=space.move_vectors, levels=levels,
                            gradual=gradual)
        self.item_lookup = string_to_index_table(space.item_ids)
        self.attribute_lookup = string_to_index_table(space.attributes)
        self.item_ids = tf.Variable(list(space.item_ids), dtype=tf.string, trainable=False)
        self.item_names = tf.Variable(list(space.item_names), dtype=tf.string, trainable=False)
        self.num_attributes = len(space.attributes)
        self.step_size = float(step_size)
        self.with_scann = with_scann
        self.walk_exact = tf.function(
            lambda *inputs: self._walk(self.exact, *inputs), input_signature=_INPUT_SIGNATURE)
        if with_scann:
            self.approximate = Walker(item_vectors, space.move,
                                      ScannIndex(item_vectors.numpy(), scann_settings),
                                      reference_vectors=space.move_vectors, levels=levels,
                                      gradual=gradual)
            self.walk = tf.function(lambda *inputs: self._walk(self.approximate, *inputs),
                                    input_signature=_INPUT_SIGNATURE)

    def items_table(self) -> pd.DataFrame:
        return self._items_table

    def signatures(self) -> dict:
        signatures = {WALK_EXACT_SIGNATURE: self.walk_exact, "serving_default": self.walk_exact}
        if self.with_scann:
            signatures[WALK_SIGNATURE] = self.walk
        return signatures

    def parse_request(self, item, attribute, direction):
        """Strings -> (reference [B] int32, attribute_weights [B, T]); invalid input fails."""
        batch_size = tf.shape(item)[0]
        checks = [check_input(tf.equal(tf.shape(attribute)[0], batch_size) & tf.equal(
            tf.shape(direction)[0], batch_size),
            "item, attribute and direction must have the same length; got lengths",
            tf.stack([batch_size, tf.shape(attribute)[0], tf.shape(direction)[0]]))]
        reference = self.item_lookup.lookup(item)
        checks.append(check_input(tf.reduce_all(reference >= 0), "unknown item id(s):",
                             tf.boolean_mask(item, reference < 0)))

        words = tf.strings.strip(tf.strings.split(attribute, ","))
        moves = tf.strings.lower(tf.strings.strip(tf.strings.split(direction, ",")))
        checks.append(check_input(
            tf.reduce_all(tf.equal(words.row_lengths(), moves.row_lengths())),
            "each attribute needs one direction (comma-separated, same count); attributes:",
            attribute))
        checks.append(check_input(
            tf.reduce_all(words.row_lengths() > 0) & tf.reduce_all(words.values != ""),
            "empty attribute in:", attribute))
        attribute_index = self.attribute_lookup.lookup(words.values)
        checks.append(check_input(tf.reduce_all(attribute_index >= 0), "unknown attribute(s):",
                             tf.boolean_mask(words.values, attribute_index < 0)))
        is_more, is_less = tf.equal(moves.values, "more"), tf.equal(moves.values, "less")
        checks.append(check_input(tf.reduce_all(is_more | is_less),
                             "direction must be more or less, got:",
                             tf.boolean_mask(moves.values, ~(is_more | is_less))))
        with tf.control_dependencies(checks):
            signs = tf.where(is_more, 1.0, -1.0)
            weights = tf.math.unsorted_segment_sum(
                tf.one_hot(tf.maximum(attribute_index, 0), self.num_attributes) * signs[:, None],
                words.value_rowids(), batch_size)
            return tf.identity(reference), weights

    def _walk(self, walker: Walker, item, attribute, direction, steps, decoding):
        reference, weights = self.parse_request(item, attribute, direction)
        steps_check = check_input((steps >= 1) & (steps < walker.num_items),
                             f"steps must be in 1..{walker.num_items - 1}, got", steps)
        decoding = tf.where(tf.equal(decoding, ""), self.default_decoding, decoding)
        decoding_check = check_input(
            tf.reduce_any(tf.equal(decoding, self.decodings)),
            f"decoding must be one of {', '.join(self.decodings)} (or empty for "
            f"{self.default_decoding}), got", decoding)
        with tf.control_dependencies([steps_check, decoding_check]):
            steps = tf.identity(steps)

            def decoded(name):
                return lambda: walker.walk(reference, weights, steps, self.step_size,
                                           decoding=name)

            if len(self.decodings) == 1:
                walk = decoded("greedy")()
            else:
                walk = tf.cond(tf.equal(decoding, "gradual"), decoded("gradual"),
                               decoded("greedy"))
        return {
            "item_ids": tf.gather(self.item_ids, walk.items),
            "item_names": tf.gather(self.item_names, walk.items),
            "scores": walk.scores,
            "strengths": walk.strengths,
        }


def export_walk(space: ItemSpace, export_dir: str, name: str, step_size: float,
                metadata: dict, decoding: str = "greedy",
                gradual: GradualSettings = GradualSettings()) -> str:
    """Exports a walkable item space as `<export_dir>/<name>/` and its stock twin; returns the
    ScaNN export's version path. `metadata` (model, catalogue, config, …) goes to
    assets.extra/ beside what the walk CLI reads (attributes, step size, sizes, the default
    decoding and the gradual decoder's settings)."""
    metadata = {**metadata, "num_items": space.num_items, "attributes": list(space.attributes),
                "step_size": step_size, "latent_dim": int(space.item_vectors.shape[1]),
                "decoding": decoding, "gradual": dataclasses.asdict(gradual),
                "decodings": list(DECODINGS if space.levels is not None else ("greedy",))}
    return save_export_pair(
        lambda with_scann: WalkServingModule(space, step_size, with_scann=with_scann,
                                             decoding=decoding, gradual=gradual),
        export_dir, name, metadata)
