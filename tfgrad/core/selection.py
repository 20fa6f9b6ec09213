"""Model selection on validation data, for every system that chooses its kept weights during
training (DVBPR on validation AUC, ADDE on validation top-k): the best weights so far in the
work dir, their figure in TensorBoard, and a resume that reads both back."""

from __future__ import annotations

import json
import os
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from tfgrad.core.run import EVALUATION_LOGS
from tfgrad.core.system import Monitor

BEST_FILE = "best.json"
BEST_WEIGHTS = "best.weights.h5"


class ValidationSelection(Monitor):
    """Called every `eval_every` steps: `validate(model)` gives named validation figures;
    the weights with the highest `metric` are kept in the work dir (`best.weights.h5`, and
    {"step", <best_key>} in `best.json`), every figure goes to TensorBoard under
    `validation/`, and a resumed run goes on from the best so far.

    Args:
      work_dir: the run's work dir.
      validate: model -> {figure name: value} on validation data only.
      metric: the figure selected on.
      best_key: its name in `best.json` and in what `finish` returns (e.g. "val_auc").
    """

    def __init__(self, work_dir: str, validate: Callable[[keras.Model], dict],
                 metric: str, best_key: str):
        self.validate, self.metric, self.best_key = validate, metric, best_key
        self.state_path = os.path.join(work_dir, BEST_FILE)
        self.weights_path = os.path.join(work_dir, BEST_WEIGHTS)
        self.best = {"step": -1, best_key: -np.inf}
        if os.path.exists(self.state_path) and os.path.exists(self.weights_path):
            with open(self.state_path) as f:
                self.best = json.load(f)
        self.writer = tf.summary.create_file_writer(os.path.join(work_dir, EVALUATION_LOGS))

    def __call__(self, model: keras.Model, step: int) -> float:
        figures = self.validate(model)
        value = float(figures[self.metric])
        improved = value > self.best[self.best_key]
        if improved:
            model.save_weights(self.weights_path)
            self.best = {"step": int(step), self.best_key: value}
            with open(self.state_path, "w") as f:
                json.dump(self.best, f)
        with self.writer.as_default(step=step):
            for name, figure in figures.items():
                tf.summary.scalar(f"validation/{name}", figure)
            tf.summary.scalar(f"validation/best_{self.metric}", self.best[self.best_key])
        self.writer.flush()
        print(f"validation at step {step}: " + ", ".join(
            f"{name} {figure:.4f}" for name, figure in figures.items())
            + ("  best so far" if improved else ""), flush=True)
        return value

    def finish(self, model: keras.Model, step: int) -> dict:
        self(model, step)
        return self.best

    def restore(self, model: keras.Model) -> None:
        if os.path.exists(self.weights_path):
            model.load_weights(self.weights_path)
