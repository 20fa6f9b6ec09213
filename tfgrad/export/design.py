"""The design serving module: new product photos from a trained conditional generator, and,
with a DVBPR run's preference model, designs for a user (`tfgrad.preference`).

An export (`tfgrad.export.versioned`) holds, over G (and D, Φ, Θ, the catalogue's photos):
  generate  category name, count, seed → PNG bytes of `count` samples of that category
            (also `serving_default`);
  design    user id, category, m, η, steps, seed → PNG bytes of the best design and softmax
            draws among the m climbed starts, with their preference θ_u·Φ(x) and objective;
  tailor    user id, item id (or photo bytes + category), η, steps, seed → PNG bytes of the
            photo, its inversion G_c(tanh z′) and the design climbed from it, with their
            preference for the user;
all stock ops (the `_stock` twin is the same). Bad input fails with InvalidArgumentError
naming it (the server's INVALID_ARGUMENT).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from tfgrad import preference
from tfgrad.data.images import decode_photo_bytes, normalize_images
from tfgrad.export.versioned import check_input, save_export_pair, string_to_index_table

GENERATE_SIGNATURE = "generate"
DESIGN_SIGNATURE = "design"
TAILOR_SIGNATURE = "tailor"
MAX_IMAGES = 256
MAX_STEPS = 500

_GENERATE_INPUTS = [tf.TensorSpec([], tf.string, name="category"),
                    tf.TensorSpec([], tf.int32, name="count"),
                    tf.TensorSpec([], tf.int64, name="seed")]


_DESIGN_INPUTS = [tf.TensorSpec([], tf.string, name="user_id"),
                  tf.TensorSpec([], tf.string, name="category"),
                  tf.TensorSpec([], tf.int32, name="m"),
                  tf.TensorSpec([], tf.float32, name="eta"),
                  tf.TensorSpec([], tf.int32, name="steps"),
                  tf.TensorSpec([], tf.int64, name="seed")]
_TAILOR_INPUTS = [tf.TensorSpec([], tf.string, name="user_id"),
                  tf.TensorSpec([], tf.string, name="item_id"),
                  tf.TensorSpec([], tf.string, name="image"),
                  tf.TensorSpec([], tf.string, name="category"),
                  tf.TensorSpec([], tf.float32, name="eta"),
                  tf.TensorSpec([], tf.int32, name="steps"),
                  tf.TensorSpec([], tf.int64, name="seed")]


def png_images(images: tf.Tensor) -> tf.Tensor:
    """[B, S, S, 3] images in [−1, 1] -> [B] PNG-encoded strings."""
    pixels = tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0, 255), tf.uint8)
    return tf.map_fn(tf.io.encode_png, pixels, fn_output_signature=tf.string)


class DesignServingModule(tf.Module):
    """Signatures over a trained conditional generator G(z, c).

    Args:
      generator: the `ConditionalGenerator` (called with training=False).
      category_names: [C] the names of G's categories, in index order.
      items: the catalogue's items table (ids, names, category), for assets.extra/items.tsv.
    """

    def __init__(self, generator, category_names: Sequence[str], items: pd.DataFrame,
                 designer: Optional["Designer"] = None):
        super().__init__(name="tfgrad_design")
        self.generator = generator
        self.noise_dim = int(generator.noise_dim)
        self.category_lookup = string_to_index_table(category_names)
        self.category_names = tf.Variable(list(category_names), dtype=tf.string,
                                          trainable=False)
        self._items_table = items
        self.with_scann = False
        self.generate = tf.function(self._generate, input_signature=_GENERATE_INPUTS)
        self.designer = designer
        if designer is not None:
            self.design = tf.function(self._design, input_signature=_DESIGN_INPUTS)
            self.tailor = tf.function(self._tailor, input_signature=_TAILOR_INPUTS)

    def items_table(self) -> pd.DataFrame:
        return self._items_table

    def signatures(self) -> dict:
        signatures = {GENERATE_SIGNATURE: self.generate, "serving_default": self.generate}
        if self.designer is not None:
            signatures.update({DESIGN_SIGNATURE: self.design, TAILOR_SIGNATURE: self.tailor})
        return signatures

    def category_index(self, category):
        index = self.category_lookup.lookup(category)
        return index, check_input(index >= 0, "unknown category:", category)

    def _generate(self, category, count, seed):
        index, known = self.category_index(category)
        count_check = check_input((count >= 1) & (count <= MAX_IMAGES),
                                  f"count must be in 1..{MAX_IMAGES}, got", count)
        with tf.control_dependencies([known, count_check]):
            z = tf.random.stateless_uniform(tf.stack([count, self.noise_dim]),
                                            tf.stack([seed, tf.constant(0, tf.int64)]),
                                            minval=-1.0, maxval=1.0)
            images = self.generator(z, tf.fill([count], tf.cast(index, tf.int32)),
                                    training=False)
        return {"images": png_images(tf.cast(images, tf.float32)),
                "category": tf.fill([count], category)}


    def _user(self, user_id):
        user = self.designer.user_lookup.lookup(user_id)
        return user, check_input(user >= 0, "unknown user id:", user_id)

    def _design(self, user_id, category, m, eta, steps, seed):
        designer = self.designer
        user, known_user = self._user(user_id)
        index, known_category = self.category_index(category)
        checks = [known_user, known_category,
                  check_input((m >= designer.designs) & (m <= MAX_IMAGES),
                              f"m must be in {designer.designs}..{MAX_IMAGES}, got", m),
                  check_input((steps >= 0) & (steps <= MAX_STEPS),
                              f"steps must be in 0..{MAX_STEPS}, got", steps)]
        with tf.control_dependencies(checks):
            start = preference.random_starts(m, self.noise_dim, seed)
            _, result = preference.maximise_preference(
                self.generator, designer.discriminator, designer.preference, user, index,
                start, eta, steps, designer.learning_rate)
            chosen = preference.best_and_drawn(result.value, designer.designs, seed)
        return {"images": png_images(tf.gather(result.images, chosen)),
                "preference": tf.gather(result.preference, chosen),
                "objective": tf.gather(result.value, chosen)}

    def _tailor(self, user_id, item_id, image, category, eta, steps, seed):
        designer = self.designer
        user, known_user = self._user(user_id)
        item = designer.item_lookup.lookup(item_id)
        given_photo = tf.strings.length(image) > 0
        named = self.category_lookup.lookup(category)
        index = tf.where(item >= 0, tf.gather(designer.item_categories, tf.maximum(item, 0)),
                         named)
        checks = [known_user,
                  check_input((item >= 0) | given_photo,
                              "unknown item id (or give image bytes):", item_id),
                  check_input(index >= 0, "unknown category (give the category of the photo):",
                              category),
                  check_input((steps >= 0) & (steps <= MAX_STEPS),
                              f"steps must be in 0..{MAX_STEPS}, got", steps)]
        with tf.control_dependencies(checks):
            photo_bytes = tf.where(given_photo, image,
                                   tf.gather(designer.item_photos, tf.maximum(item, 0)))
            target = normalize_images(decode_photo_bytes(photo_bytes,
                                                         self.generator.image_size))
            z_prime, inverted = preference.invert(
                self.generator, index, target,
                preference.random_starts(designer.inversion_starts, self.noise_dim, seed),
                designer.inversion_steps, designer.learning_rate)
            _, result = preference.maximise_preference(
                self.generator, designer.discriminator, designer.preference, user, index,
                z_prime[None], eta, steps, designer.learning_rate)
            images = tf.stack([target, tf.cast(inverted, tf.float32), result.images[0]])
            scores = designer.preference.scores(tf.fill([3], user), images)
        return {"images": png_images(images), "preference": scores}


class Designer(tf.Module):
    """What `design` and `tailor` need beside G: D, the frozen preference model, the users'
    and items' ids, the items' photos (JPEG bytes at G's size) and categories, and the
    ascent's settings.

    Args:
      discriminator: D.
      preference_model: `tfgrad.preference.VisualPreference` (Φ and Θ of a DVBPR run).
      user_ids: [N] in Θ's row order.
      item_ids, item_categories, item_photos: the catalogue's photographed items: ids, G's
        category index and encoded photos.
      designs: how many designs `design` returns (the best and softmax draws).
      learning_rate: the ascent's (and the inversion's) Adam step size.
      inversion_starts, inversion_steps: the inversion's starts and steps.
    """

    def __init__(self, discriminator, preference_model, user_ids, item_ids, item_categories,
                 item_photos, designs: int = 3, learning_rate: float = 0.2,
                 inversion_starts: int = 16, inversion_steps: int = 100):
        super().__init__(name="designer")
        self.discriminator = discriminator
        self.preference = preference_model
        self.user_lookup = string_to_index_table(user_ids)
        self.item_lookup = string_to_index_table(item_ids)
        self.item_categories = tf.constant(np.asarray(item_categories, np.int32))
        self.item_photos = tf.Variable(list(item_photos), dtype=tf.string, trainable=False)
        self.designs = int(designs)
        self.learning_rate = float(learning_rate)
        self.inversion_starts = int(inversion_starts)
        self.inversion_steps = int(inversion_steps)


def export_design(model, category_names: Sequence[str], items: pd.DataFrame, export_dir: str,
                  name: str, metadata: dict, designer: Optional[Designer] = None) -> str:
    """Exports a trained conditional LSGAN's generator (and, with a designer, the `design`
    and `tailor` signatures) as `<export_dir>/<name>/` and its stock twin; returns the
    version path."""
    metadata = {**metadata, "categories": list(category_names),
                "noise_dim": int(model.generator.noise_dim)}
    return save_export_pair(
        lambda with_scann: DesignServingModule(model.generator, category_names, items,
                                               designer),
        export_dir, name, metadata)
