"""The look-alike serving module: visual KNN over an encoder's codes of the catalogue photos,
and (for AGE and the autoencoder) the generator's images.

An export (`tfgrad.export.versioned`) holds, over e (and g) and the catalogue's codes:
  similar      item id (a catalogue item: its stored code, itself excluded) or image bytes
               (JPEG or PNG; another size is resized with padding to the model's), k →
               item ids [k], Euclidean distances [k] between codes and the items' photos,
               nearest first (also `serving_default`); searched by ScaNN in the export,
               exactly in its `_stock` twin, as every tfgrad export;
  reconstruct  image bytes or item id → PNG bytes of the photo as the model sees it and of
               g(e(x));
  embed        [B] image bytes → [B, d] codes (the features other systems read, e.g. DVBPR's
               --visual_features_path through `tfgrad.similar --embed_photos`);
  sample       count, seed → PNG bytes of g(z) for latents z uniform on the sphere.
Bad input fails with InvalidArgumentError naming it (the server's INVALID_ARGUMENT).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from tfgrad.data.images import decode_photo_bytes, normalize_images
from tfgrad.export.design import MAX_IMAGES, png_images
from tfgrad.export.versioned import check_input, save_export_pair, string_to_index_table
from tfgrad.retrieval.index import ScannSettings, build_index

SIMILAR_SIGNATURE = "similar"
RECONSTRUCT_SIGNATURE = "reconstruct"
SAMPLE_SIGNATURE = "sample"
EMBED_SIGNATURE = "embed"
MAX_K = 1000
MAX_PHOTOS = 1024

_PHOTO_INPUTS = [tf.TensorSpec([], tf.string, name="item_id"),
                 tf.TensorSpec([], tf.string, name="image")]
_SIMILAR_INPUTS = _PHOTO_INPUTS + [tf.TensorSpec([], tf.int32, name="k")]
_EMBED_INPUTS = [tf.TensorSpec([None], tf.string, name="images")]
_SAMPLE_INPUTS = [tf.TensorSpec([], tf.int32, name="count"),
                  tf.TensorSpec([], tf.int64, name="seed")]


class SimilarServingModule(tf.Module):
    """Signatures over an encoder (and generator) and the catalogue's unit codes.

    Args:
      model: has `encode` ([B, S, S, 3] in [−1, 1] -> [B, d] unit codes), `image_size` and,
        when `generative`, `decode` and `latent_dim`.
      item_ids: [M] the catalogue's ids.
      item_codes: [M, d] their codes.
      item_photos: [M] their photos, PNG or JPEG bytes (what `similar` returns and an id
        query reconstructs).
      items: the catalogue's table (ids, class), for assets.extra/items.tsv.
      with_scann: search with ScaNN (else exactly, stock ops only).
      generative: the model has a generator (`reconstruct` and `sample`).
    """

    def __init__(self, model, item_ids, item_codes: np.ndarray, item_photos,
                 items: pd.DataFrame, with_scann: bool, generative: bool):
        super().__init__(name="tfgrad_similar")
        self.model = model
        self.image_size = int(model.image_size)
        self.num_items = len(item_ids)
        self.item_lookup = string_to_index_table(item_ids)
        self.item_ids = tf.Variable(np.asarray(item_ids, str), dtype=tf.string,
                                    trainable=False)
        self.item_codes = tf.Variable(np.asarray(item_codes, np.float32), trainable=False)
        self.item_photos = tf.Variable(list(item_photos), dtype=tf.string, trainable=False)
        # Codes are unit vectors: the largest dot products are the nearest codes.
        self.index = build_index(self.item_codes, "scann" if with_scann else "brute_force",
                                 ScannSettings.for_catalogue(len(item_ids)))
        self.with_scann = with_scann
        self.generative = generative
        self._items_table = items
        self.similar = tf.function(self._similar, input_signature=_SIMILAR_INPUTS)
        self.embed = tf.function(self._embed, input_signature=_EMBED_INPUTS)
        if generative:
            self.reconstruct = tf.function(self._reconstruct, input_signature=_PHOTO_INPUTS)
            self.sample = tf.function(self._sample, input_signature=_SAMPLE_INPUTS)

    def items_table(self) -> pd.DataFrame:
        return self._items_table

    def signatures(self) -> dict:
        signatures = {SIMILAR_SIGNATURE: self.similar, EMBED_SIGNATURE: self.embed,
                      "serving_default": self.similar}
        if self.generative:
            signatures.update({RECONSTRUCT_SIGNATURE: self.reconstruct,
                               SAMPLE_SIGNATURE: self.sample})
        return signatures

    def _query(self, item_id, image):
        """(the query's photo bytes, its catalogue row or -1) — given bytes win over the id."""
        item = self.item_lookup.lookup(item_id)
        given_photo = tf.strings.length(image) > 0
        known = check_input((item >= 0) | given_photo,
                            "unknown item id (or give image bytes):", item_id)
        with tf.control_dependencies([known]):
            photo_bytes = tf.where(given_photo, image,
                                   tf.gather(self.item_photos, tf.maximum(item, 0)))
        return photo_bytes, tf.where(given_photo, -1, item)

    def _decoded(self, photo_bytes):
        """[S, S, 3] in [−1, 1]: the photo at the model's size (resized with padding)."""
        return normalize_images(decode_photo_bytes(photo_bytes, self.image_size))

    def _similar(self, item_id, image, k):
        k_check = check_input((k >= 1) & (k <= min(MAX_K, self.num_items - 1)),
                              f"k must be in 1..{min(MAX_K, self.num_items - 1)}, got", k)
        with tf.control_dependencies([k_check]):
            photo_bytes, row = self._query(item_id, image)
            # A catalogue item's code is the stored one, the same the catalogue was searched
            # by; only a given photo is decoded and encoded.
            code = tf.cond(row >= 0, lambda: tf.gather(self.item_codes, tf.maximum(row, 0)),
                           lambda: self.model.encode(self._decoded(photo_bytes)[None])[0])
            scores, found = self.index.search(code[None], k + 1)
            # Drop the query item itself (an id query), else the last of the k + 1.
            keep = found[0] != row
            keep = keep & (tf.cumsum(tf.cast(keep, tf.int32)) <= k)
            found, scores = tf.boolean_mask(found[0], keep), tf.boolean_mask(scores[0], keep)
        # ‖a − b‖² = 2 − 2 a·b for unit vectors.
        return {"item_ids": tf.gather(self.item_ids, found),
                "distances": tf.sqrt(tf.maximum(2.0 - 2.0 * scores, 0.0)),
                "images": tf.gather(self.item_photos, found)}

    def _embed(self, images):
        count = tf.size(images)
        count_check = check_input((count >= 1) & (count <= MAX_PHOTOS),
                                  f"give 1..{MAX_PHOTOS} images, got", count)
        with tf.control_dependencies([count_check]):
            photos = tf.map_fn(self._decoded, images, fn_output_signature=tf.float32)
            codes = self.model.encode(photos)
        return {"codes": tf.cast(codes, tf.float32)}

    def _reconstruct(self, item_id, image):
        photo = self._decoded(self._query(item_id, image)[0])
        rebuilt = tf.cast(self.model.decode(self.model.encode(photo[None]))[0], tf.float32)
        return {"images": png_images(tf.stack([photo, rebuilt]))}

    def _sample(self, count, seed):
        count_check = check_input((count >= 1) & (count <= MAX_IMAGES),
                                  f"count must be in 1..{MAX_IMAGES}, got", count)
        with tf.control_dependencies([count_check]):
            latents = tf.math.l2_normalize(tf.random.stateless_normal(
                tf.stack([count, self.model.latent_dim]),
                tf.stack([seed, tf.constant(2, tf.int64)])), axis=-1)
            images = self.model.decode(latents)
        return {"images": png_images(tf.cast(images, tf.float32))}


def export_similar(model, item_ids, item_codes: np.ndarray, item_photos, items: pd.DataFrame,
                   export_dir: str, name: str, metadata: dict, generative: bool) -> str:
    """Exports the catalogue's codes and the model as `<export_dir>/<name>/` (ScaNN) and its
    stock twin; returns the version path."""
    metadata = {**metadata, "image_size": int(model.image_size),
                "latent_dim": int(item_codes.shape[1]), "items": len(item_ids)}
    return save_export_pair(
        lambda with_scann: SimilarServingModule(model, item_ids, item_codes, item_photos, items,
                                                with_scann, generative),
        export_dir, name, metadata)
