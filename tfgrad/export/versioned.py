"""Versioned SavedModels, whatever they serve: TF Serving's `<base>/<version>/` layout, written
atomically, with the items table and metadata in `<version>/assets.extra/`; the stock twin and
`models.config`; loading the newest version back.

Every export is a pair: `<export_dir>/<name>/<version>/` with every signature (ScaNN ones need
`import scann` before loading, which registers its ops) and `<export_dir>/<name>_stock/<version>/`
with the stock-op signatures alone, because stock TF Serving links ops at build time and so
cannot load a SavedModel holding any ScaNN op. The serving modules (`tfgrad.export.walk`,
`tfgrad.export.recommend`) are built from spaces (`tfgrad.spaces`), never from a model class.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from typing import Callable

import pandas as pd
import tensorflow as tf

EXTRA_DIR = "assets.extra"
ITEMS_FILE = "items.tsv"
METADATA_FILE = "tfgrad_export.json"
RELEVANCE_PREFIX = "relevance:"
MODELS_CONFIG = "models.config"
STOCK_SUFFIX = "_stock"


def string_to_index_table(keys) -> tf.lookup.StaticHashTable:
    keys = tf.constant(list(keys), tf.string)
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, tf.range(tf.size(keys), dtype=tf.int32)),
        default_value=-1)


def check_input(condition, message: str, values) -> tf.Operation:
    # A failed Assert raises InvalidArgumentError with these strings. Callers put the search
    # under control dependencies of every check, so no op sees invalid input before they run.
    return tf.debugging.Assert(condition, [message, values], summarize=20)


def next_version(base_path: str) -> int:
    """1 + the largest numeric version folder under base_path (TF Serving's layout)."""
    if not os.path.isdir(base_path):
        return 1
    versions = [int(name) for name in os.listdir(base_path) if name.isdigit()]
    return max(versions, default=0) + 1


def _write_extras(path: str, items: pd.DataFrame, metadata: dict) -> None:
    extra = os.path.join(path, EXTRA_DIR)
    os.makedirs(extra, exist_ok=True)
    items.to_csv(os.path.join(extra, ITEMS_FILE), sep="\t", index=False)
    with open(os.path.join(extra, METADATA_FILE), "w") as f:
        json.dump(metadata, f, indent=2)


def save_versioned(module: tf.Module, base_path: str, metadata: dict) -> str:
    """Saves to `<base_path>/<next version>` atomically: a server watching base_path never
    sees a half-written version.

    Args:
      module: a serving module with `signatures()`, `with_scann` (whether a signature holds
        ScaNN ops) and `items_table()` (written to assets.extra/items.tsv).
    """
    version = next_version(base_path)
    final_path = os.path.join(base_path, str(version))
    staging_path = os.path.join(base_path, f".staging-{version}-{os.getpid()}")
    shutil.rmtree(staging_path, ignore_errors=True)
    tf.saved_model.save(module, staging_path, signatures=module.signatures(),
                        options=tf.saved_model.SaveOptions(
                            namespace_whitelist=["Scann"] if module.with_scann else None))
    _write_extras(staging_path, module.items_table(), {**metadata, "version": version,
                                            "signatures": sorted(module.signatures())})
    os.rename(staging_path, final_path)
    return final_path


def save_export_pair(make_module: Callable[[bool], tf.Module], export_dir: str, name: str,
                     metadata: dict) -> str:
    """Saves `make_module(with_scann=True)` to `<export_dir>/<name>/` and its stock twin
    `make_module(with_scann=False)` to `<export_dir>/<name>_stock/`, each as a new version, and
    rewrites models.config. Returns the ScaNN export's version path."""
    metadata = {**metadata, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    paths = [save_versioned(make_module(with_scann), os.path.join(export_dir, name + suffix),
                            metadata)
             for suffix, with_scann in (("", True), (STOCK_SUFFIX, False))]
    write_models_config(export_dir)
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
