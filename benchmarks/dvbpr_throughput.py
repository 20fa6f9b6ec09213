"""DVBPR training throughput on the real H&M photos, and whether the input pipeline keeps up.

  python benchmarks/dvbpr_throughput.py [--hm_dir=../shared/data/fashion/hm] [--batch=128]
      [--steps=30] [--settings=decode_64px,triples_64px,64px_w0.125,64px_w0.125_bf16,...]

Each setting runs in its own subprocess, so every peak resident memory (ru_maxrss) is that
setting's own, and a setting that fails or hangs (`--timeout`) does not stop the others:
  decode_<S>px    every photo decoded and resized to S px by `load_images` (uncached; the
                  files are likely in the OS page cache) — images/s;
  triples_<S>px   `bpr_triples_dataset(..., images=...)` batches iterated with nothing
                  consuming them — seconds per batch, images/s = 2 × batch / seconds;
  <S>px_w<W>      Keras `fit` of DVBPR (CNN-F of width W over S px photos) on that dataset with
                  its optimizer (AdamW), as `tfgrad.core.run.train` builds it for the dvbpr
                  system; a suffix _bf16 or _fp16 trains under mixed_bfloat16 or mixed_float16
                  (then in a LossScaleOptimizer) — seconds per step, images/s =
                  2 × batch / seconds (each BPR triple puts 2 photos through the Siamese CNN).
Training is timed inside one `fit`, from the start of the first step after `--warmup_steps` to
the end of the last (Keras reads each batch inside its step, so input waits count). The last
column compares a setting with its peers in the same run: a mixed precision with float32 at
the same size and width, and the unconsumed pipeline's images/s with training's at the same
photo size.

CNN-F at 224 px takes seconds per step on a CPU: those settings run `--paper_steps` steps of
`--paper_batch` triples, mixed_float16 `--fp16_steps` steps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from absl import app, flags  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HM_DIR = os.path.normpath(os.path.join(REPO_ROOT, "../shared/data/fashion/hm"))
RESULT_PREFIX = "RESULT "
PAPER_SIZE = 224

FLAGS = flags.FLAGS
flags.DEFINE_string("hm_dir", HM_DIR, "H&M folder: articles.csv, transactions_train.csv, images/.")
flags.DEFINE_list("settings", ["decode_64px", "decode_224px", "triples_64px", "triples_224px",
                               "64px_w0.125", "64px_w0.125_bf16", "64px_w0.125_fp16",
                               "64px_w0.25", "224px_w1"],
                  "Settings to measure: decode_<S>px, triples_<S>px or <S>px_w<W>[_bf16|_fp16].")
flags.DEFINE_integer("batch", 128, "BPR triples per batch.")
flags.DEFINE_integer("steps", 30, "Timed training steps (or pipeline batches) per setting.")
flags.DEFINE_integer("warmup_steps", 5, "Untimed training steps (or batches) first.")
flags.DEFINE_integer("paper_batch", 32, "Triples per batch at 224 px (training and pipeline).")
flags.DEFINE_integer("paper_steps", 3, "Timed training steps at 224 px (the paper's size).")
flags.DEFINE_integer("fp16_steps", 2, "Timed training steps under mixed_float16.")
flags.DEFINE_integer("timeout", 1800, "Seconds a setting may take before it is stopped.")
flags.DEFINE_string("task", None, "Internal: the one setting a subprocess measures.")

PRECISIONS = {"": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@dataclasses.dataclass(frozen=True)
class Setting:
    """One row of the table.

    Attributes:
      name: as given in --settings.
      kind: "decode", "triples" or "train".
      image_size: S.
      cnn_width, precision: Φ's, for "train".
    """

    name: str
    kind: str
    image_size: int
    cnn_width: float = 0.0
    precision: str = "float32"

    @property
    def batch(self) -> int:
        return FLAGS.paper_batch if self.image_size >= PAPER_SIZE else FLAGS.batch

    @property
    def steps(self) -> int:
        if self.kind == "train" and self.precision == "mixed_float16":
            return FLAGS.fp16_steps
        if self.kind == "train" and self.image_size >= PAPER_SIZE:
            return FLAGS.paper_steps
        return FLAGS.steps

    @property
    def float32_peer(self) -> str:
        return f"{self.image_size}px_w{self.cnn_width:g}"


def parse_setting(name: str) -> Setting:
    """decode_64px | triples_64px | 64px_w0.125 | 64px_w0.125_bf16 | 64px_w0.125_fp16."""
    try:
        if name.startswith(("decode_", "triples_")):
            kind, size = name.split("_")
            return Setting(name, kind, int(size.removesuffix("px")))
        size, width, *precision = name.split("_")
        return Setting(name, "train", int(size.removesuffix("px")),
                       float(width.removeprefix("w")), PRECISIONS["".join(precision)])
    except (ValueError, KeyError):
        raise ValueError(f"unknown setting {name!r}: expected decode_<S>px, triples_<S>px or "
                         f"<S>px_w<W>[_bf16|_fp16]") from None


class StepTimer(keras.callbacks.Callback):
    """Times `fit` from the start of step `first_timed_step` to the end of the last step
    (batches included: Keras reads each batch inside its step)."""

    def __init__(self, first_timed_step: int):
        super().__init__()
        self.first_timed_step = first_timed_step
        self.started = self.ended = None

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.first_timed_step:
            self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.ended = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.ended - self.started


# --- Measurements: each runs in its own subprocess and returns the row's numbers. ---

def load_photos(setting: Setting):
    """(purchases, [M, S, S, 3] uint8 photos, seconds taken to decode them)."""
    from tfgrad.data.images import load_images
    from tfgrad.data.purchases import load_hm_purchases

    purchases = load_hm_purchases(FLAGS.hm_dir)
    started = time.perf_counter()
    images = load_images(purchases.image_paths, setting.image_size)
    return purchases, images, time.perf_counter() - started


def triples(setting: Setting, purchases, images):
    from tfgrad.data.pipelines import bpr_triples_dataset

    return bpr_triples_dataset(purchases.train, purchases.num_items, setting.batch, seed=1,
                               images=images)


def measure_decode(setting: Setting) -> dict:
    _, images, seconds = load_photos(setting)
    return {"timed": f"{len(images)} photos", "images_per_second": len(images) / seconds}


def measure_triples(setting: Setting) -> dict:
    purchases, images, _ = load_photos(setting)
    batches = iter(triples(setting, purchases, images))
    for _ in range(FLAGS.warmup_steps):
        next(batches)
    started = time.perf_counter()
    for _ in range(setting.steps):
        next(batches)
    seconds = (time.perf_counter() - started) / setting.steps
    return {"timed": f"{setting.steps} batches", "seconds_per_step": seconds,
            "images_per_second": 2 * setting.batch / seconds}


def measure_training(setting: Setting) -> dict:
    from tfgrad.distribute import get_strategy
    from tfgrad.models.dvbpr import DVBPR

    purchases, images, _ = load_photos(setting)
    keras.utils.set_random_seed(0)
    with get_strategy("auto").scope():
        model = DVBPR(purchases.num_users, purchases.num_items, image_size=setting.image_size,
                      cnn_width=setting.cnn_width, compute_dtype=setting.precision)
        model.build()
        optimizer = model.make_optimizer(1e-3)
        if setting.precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer)
    timer = StepTimer(first_timed_step=FLAGS.warmup_steps)
    model.fit(triples(setting, purchases, images), epochs=1, verbose=0, callbacks=[timer],
              steps_per_epoch=FLAGS.warmup_steps + setting.steps)
    seconds = timer.seconds / setting.steps
    return {"timed": f"{setting.steps} steps", "seconds_per_step": seconds,
            "images_per_second": 2 * setting.batch / seconds}


MEASUREMENTS = {"decode": measure_decode, "triples": measure_triples, "train": measure_training}


def run_task(name: str) -> None:
    """Measures one setting in this process and prints its result as one JSON line."""
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    setting = parse_setting(name)
    result = MEASUREMENTS[setting.kind](setting)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# --- The parent: one subprocess per setting, then the table. ---

def run_in_subprocess(setting: Setting) -> dict:
    """The setting's result, or {"error": why} when its subprocess failed or timed out."""
    command = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], f"--task={setting.name}"]
    print(f"measuring {setting.name} ...", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=FLAGS.timeout,
                              cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {FLAGS.timeout} s"}
    results = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode or not results:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return {"error": f"failed: {last[:200]}"}
    return json.loads(results[-1].removeprefix(RESULT_PREFIX))


def comparison(setting: Setting, results: dict[str, dict]) -> str:
    """The setting's ratio to its peers in this run: float32 for a mixed precision, the
    unconsumed pipeline at the same photo size for training."""
    if setting.kind != "train" or "error" in results[setting.name]:
        return ""
    speed = results[setting.name]["images_per_second"]
    parts = []
    peer = results.get(setting.float32_peer, {})
    if setting.precision != "float32" and "images_per_second" in peer:
        parts.append(f"{speed / peer['images_per_second']:.2f}× {setting.float32_peer}")
    pipeline = results.get(f"triples_{setting.image_size}px", {})
    if "images_per_second" in pipeline:
        parts.append(f"pipeline {pipeline['images_per_second'] / speed:.0f}× faster")
    return "; ".join(parts)


def table(settings: list[Setting], results: dict[str, dict]) -> str:
    rows = ["| setting | batch | timed | s/step | images/s | peak RSS (MiB) | vs peer |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for setting in settings:
        result = results[setting.name]
        if "error" in result:
            rows.append(f"| {setting.name} | {setting.batch} | — | — | — | — | "
                        f"{result['error']} |")
            continue
        batch = "—" if setting.kind == "decode" else str(setting.batch)
        step = result.get("seconds_per_step")
        rows.append(f"| {setting.name} | {batch} | {result['timed']} | "
                    f"{'—' if step is None else f'{step:.3f}'} | "
                    f"{result['images_per_second']:,.0f} | {result['peak_rss_mib']:,.0f} | "
                    f"{comparison(setting, results)} |")
    return "\n".join(rows)


def main(argv):
    del argv
    if FLAGS.task:
        run_task(FLAGS.task)
        return
    settings = [parse_setting(name) for name in FLAGS.settings]
    results = {setting.name: run_in_subprocess(setting) for setting in settings}
    print(f"DVBPR on H&M photos ({FLAGS.hm_dir}), {os.cpu_count()} CPU cores; "
          f"{FLAGS.warmup_steps} warm-up steps (or batches) untimed; 224 px settings use "
          f"batches of {FLAGS.paper_batch} triples; images/s counts both photos of a triple.\n")
    print(table(settings, results))


if __name__ == "__main__":
    app.run(main)
