"""Versioned SavedModels that walk: raw item id + attribute words in, item ids per step out.

`<export_dir>/<name>/<version>/` holds two signatures over one item table:
  walk        ScaNN search (loading needs `import scann` first, which registers its ops);
  walk_exact  brute force with stock TensorFlow ops (also `serving_default`).
Because stock TF Serving links ops at build time and so cannot load a SavedModel holding any
ScaNN op, `<export_dir>/<name>_stock/<version>/` holds `walk_exact` alone, for stock servers.
Item metadata for printing results is in `<version>/assets.extra/`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from typing import Optional

import numpy as np
import pandas as pd
import tensorflow as tf

from tfgrad.data.catalogue import Catalogue
from tfgrad.retrieval.index import BruteForceIndex, ScannIndex, ScannSettings, as_constant_variable
from tfgrad.retrieval.walk import Walker

WALK_SIGNATURE = "walk"
WALK_EXACT_SIGNATURE = "walk_exact"
EXTRA_DIR = "assets.extra"
ITEMS_FILE = "items.tsv"
METADATA_FILE = "tfgrad_export.json"
RELEVANCE_PREFIX = "relevance:"
MODELS_CONFIG = "models.config"
STOCK_SUFFIX = "_stock"
DIRECTIONS = {"more": 1.0, "less": -1.0}

_INPUT_SIGNATURE = [
    tf.TensorSpec([None], tf.string, name="item"),
    tf.TensorSpec([None], tf.string, name="attribute"),
    tf.TensorSpec([None], tf.string, name="direction"),
    tf.TensorSpec([], tf.int32, name="steps"),
]


def string_to_index_table(keys) -> tf.lookup.StaticHashTable:
    keys = tf.constant(list(keys), tf.string)
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, tf.range(tf.size(keys), dtype=tf.int32)),
        default_value=-1)


def check_input(condition, message: str, values) -> tf.Operation:
    # A failed Assert raises InvalidArgumentError with these strings. Callers put the search
    # under control dependencies of every check, so no op sees invalid input before they run.
    return tf.debugging.Assert(condition, [message, values], summarize=20)


class WalkServingModule(tf.Module):
    """Resolves raw strings in the graph and walks; see the module docstring for signatures.

    Inputs (per request of B walks): item [B] external ids; attribute [B] attribute strings,
    several joined by commas ("floral,dark"); direction [B] "more"/"less", one per attribute
    ("more,less"); steps, the walk length N. Outputs: item_ids, item_names, scores [B, N] and
    strengths [N] (γ_n).
    """

    def __init__(self, item_vectors, attribute_vectors, item_ids, item_names, attributes,
                 step_size: float, scann_settings: Optional[ScannSettings] = None,
                 with_scann: bool = True, composer=None):
        super().__init__(name="tfgrad_walk")
        item_vectors = as_constant_variable(item_vectors, "item_vectors")
        self.exact = Walker(item_vectors, attribute_vectors, BruteForceIndex(item_vectors),
                            composer)
        self.item_lookup = string_to_index_table(item_ids)
        self.attribute_lookup = string_to_index_table(attributes)
        self.item_ids = tf.Variable(list(item_ids), dtype=tf.string, trainable=False)
        self.item_names = tf.Variable(list(item_names), dtype=tf.string, trainable=False)
        self.num_attributes = len(attributes)
        self.step_size = float(step_size)
        self.with_scann = with_scann
        self.walk_exact = tf.function(
            lambda *inputs: self._walk(self.exact, *inputs), input_signature=_INPUT_SIGNATURE)
        if with_scann:
            self.approximate = Walker(item_vectors, self.exact.attribute_vectors,
                                      ScannIndex(item_vectors.numpy(), scann_settings), composer)
            self.walk = tf.function(lambda *inputs: self._walk(self.approximate, *inputs),
                                    input_signature=_INPUT_SIGNATURE)

    def signatures(self) -> dict:
        signatures = {WALK_EXACT_SIGNATURE: self.walk_exact, "serving_default": self.walk_exact}
        if hasattr(self, "walk"):
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

    def _walk(self, walker: Walker, item, attribute, direction, steps):
        reference, weights = self.parse_request(item, attribute, direction)
        steps_check = check_input((steps >= 1) & (steps < walker.num_items),
                             f"steps must be in 1..{walker.num_items - 1}, got", steps)
        with tf.control_dependencies([steps_check]):
            walk = walker.walk(reference, weights, tf.identity(steps), self.step_size)
        return {
            "item_ids": tf.gather(self.item_ids, walk.items),
            "item_names": tf.gather(self.item_names, walk.items),
            "scores": walk.scores,
            "strengths": walk.strengths,
        }


def next_version(base_path: str) -> int:
    """1 + the largest numeric version folder under base_path (TF Serving's layout)."""
    if not os.path.isdir(base_path):
        return 1
    versions = [int(name) for name in os.listdir(base_path) if name.isdigit()]
    return max(versions, default=0) + 1


def items_table(catalogue: Catalogue) -> pd.DataFrame:
    """The items.tsv of a walk export: ids, names and true relevance where the data has it."""
    items = pd.DataFrame({"item_id": catalogue.item_ids, "name": catalogue.item_names})
    if catalogue.relevance is not None:
        relevance = pd.DataFrame(np.round(catalogue.relevance, 4), columns=[
            RELEVANCE_PREFIX + attribute for attribute in catalogue.attributes])
        items = pd.concat([items, relevance], axis=1)
    return items


def _write_extras(path: str, items: pd.DataFrame, metadata: dict) -> None:
    extra = os.path.join(path, EXTRA_DIR)
    os.makedirs(extra, exist_ok=True)
    items.to_csv(os.path.join(extra, ITEMS_FILE), sep="\t", index=False)
    with open(os.path.join(extra, METADATA_FILE), "w") as f:
        json.dump(metadata, f, indent=2)


def save_versioned(module: tf.Module, base_path: str, items, metadata: dict) -> str:
    """Saves to `<base_path>/<next version>` atomically: a server watching base_path never
    sees a half-written version.

    Args:
      module: a serving module with `signatures()` and `with_scann` (whether a signature holds
        ScaNN ops).
      items: the Catalogue, or the items.tsv table, written to assets.extra/.
    """
    version = next_version(base_path)
    final_path = os.path.join(base_path, str(version))
    staging_path = os.path.join(base_path, f".staging-{version}-{os.getpid()}")
    shutil.rmtree(staging_path, ignore_errors=True)
    tf.saved_model.save(module, staging_path, signatures=module.signatures(),
                        options=tf.saved_model.SaveOptions(
                            namespace_whitelist=["Scann"] if module.with_scann else None))
    if isinstance(items, Catalogue):
        items = items_table(items)
    _write_extras(staging_path, items, {**metadata, "version": version,
                                            "signatures": sorted(module.signatures())})
    os.rename(staging_path, final_path)
    return final_path


def export_walk_model(model, catalogue: Catalogue, config) -> str:
    """Exports a trained model's item space; returns the ScaNN export's version path.

    Args:
      model: a trained `RetrievalModel` (its item table, attribute codes and composer).
      catalogue: the catalogue it was trained on (ids, names, attributes).
      config: the ExperimentConfig (export_dir, name, step size).
    """
    item_vectors = np.asarray(model.item_vectors())
    attribute_vectors = np.asarray(model.attribute_vectors())
    metadata = {
        "model": type(model).__name__, "catalogue": catalogue.name,
        "num_items": catalogue.num_items, "attributes": list(catalogue.attributes),
        "step_size": config.eval.step_size, "latent_dim": int(item_vectors.shape[1]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": dataclasses.asdict(config),
    }
    paths = []
    for suffix, with_scann in (("", True), (STOCK_SUFFIX, False)):
        module = WalkServingModule(item_vectors, attribute_vectors, catalogue.item_ids,
                                   catalogue.item_names, catalogue.attributes,
                                   config.eval.step_size, with_scann=with_scann,
                                   composer=model.composer)
        paths.append(save_versioned(module, os.path.join(config.export_dir, config.name + suffix),
                                    catalogue, metadata))
    write_models_config(config.export_dir)
    return paths[0]


def write_models_config(export_dir: str, mount_point: str = "/models") -> str:
    """Writes `<export_dir>/models.config` for stock TensorFlow Serving: one entry per
    `<name>_stock` folder (the exports it can load), named `<name>`, at `<mount_point>/...`.

    docker run -p 8500:8500 -v "$PWD/exports:/models" tensorflow/serving \
        --model_config_file=/models/models.config
    """
    names = sorted(entry[:-len(STOCK_SUFFIX)] for entry in os.listdir(export_dir)
                   if entry.endswith(STOCK_SUFFIX)
                   and os.path.isdir(os.path.join(export_dir, entry)))
    entries = "".join(
        f'  config {{\n    name: "{name}"\n    base_path: "{mount_point}/{name}{STOCK_SUFFIX}"\n'
        f'    model_platform: "tensorflow"\n  }}\n' for name in names)
    path = os.path.join(export_dir, MODELS_CONFIG)
    with open(path, "w") as f:
        f.write("# Written by tfgrad.export for stock TensorFlow Serving (the exports without "
                "ScaNN ops).\n"
                f"model_config_list {{\n{entries}}}\n")
    return path


@dataclasses.dataclass
class LoadedExport:
    """A reloaded export. Keep this object alive while calling its signatures (a signature of
    a garbage-collected SavedModel object fails)."""

    path: str
    version: int
    saved_model: object
    metadata: dict
    items: pd.DataFrame

    def relevance_columns(self) -> list[str]:
        return [c[len(RELEVANCE_PREFIX):] for c in self.items.columns
                if c.startswith(RELEVANCE_PREFIX)]


def resolve_version(export_dir: str) -> str:
    """A version folder as is, or the newest numeric version under a base folder."""
    if not os.path.isdir(export_dir):
        raise FileNotFoundError(f"export dir {export_dir!r} does not exist")
    if os.path.exists(os.path.join(export_dir, "saved_model.pb")):
        return export_dir
    version = next_version(export_dir) - 1
    if version == 0:
        raise FileNotFoundError(
            f"export dir {export_dir!r} holds no SavedModel and no numeric version folder")
    return os.path.join(export_dir, str(version))


def load_export(export_dir: str) -> LoadedExport:
    """Loads the newest version under `export_dir` (or that version folder) with its metadata."""
    import scann  # noqa: F401  registers the ScaNN ops the `walk` signature holds

    path = resolve_version(export_dir)
    extra = os.path.join(path, EXTRA_DIR)
    for name in (ITEMS_FILE, METADATA_FILE):
        if not os.path.exists(os.path.join(extra, name)):
            raise FileNotFoundError(f"{path!r} is not a tfgrad export: {EXTRA_DIR}/{name} is "
                                    f"missing")
    with open(os.path.join(extra, METADATA_FILE)) as f:
        metadata = json.load(f)
    items = pd.read_csv(os.path.join(extra, ITEMS_FILE), sep="\t", dtype={"item_id": str})
    return LoadedExport(path=path, version=int(metadata["version"]),
                        saved_model=tf.saved_model.load(path), metadata=metadata, items=items)
