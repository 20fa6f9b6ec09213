"""Frozen dataclass configs: what library code takes instead of flags (flags live in entry points).

Each system's config (`tfgrad.systems.<name>`) is a `SystemConfig` with its own sections; the
sections every system shares are here. `tfgrad.flags` turns the fields into absl flags: a field's
flag is its name (or `metadata["flag"]`), its help the field's line under "Attributes:" in the
dataclass docstring, its choices `metadata["choices"]`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from typing import Any

from tfgrad.distribute import STRATEGIES

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def option(default, *, flag: str | None = None, choices: tuple | None = None):
    """A config field with a default, and optionally its flag name and allowed values."""
    metadata = {}
    if flag is not None:
        metadata["flag"] = flag
    if choices is not None:
        metadata["choices"] = tuple(choices)
    return dataclasses.field(default=default, metadata=metadata)


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; known: {', '.join(map(str, choices))}")


def check_positive(config, *fields: str) -> None:
    for field in fields:
        if getattr(config, field) <= 0:
            raise ValueError(f"{field} must be positive, got {getattr(config, field)}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The training loop: steps, optimiser, checkpoints and the distribution strategy (each
    system's train section adds its batch sizes).

    Attributes:
      steps: Training steps.
      checkpoint_every: Steps between resumable checkpoints.
      eval_every: Steps between evaluations (TensorBoard scalars, pictures, model selection).
      learning_rate: Adam learning rate.
      strategy: tf.distribute strategy; auto: mirrored over GPUs if several, else one device.
      seed: Seed of initialisation, batches and splits.
    """

    steps: int = 3000
    checkpoint_every: int = 250
    eval_every: int = 1000
    learning_rate: float = 1e-3
    strategy: str = option("auto", choices=STRATEGIES)
    seed: int = 0

    def __post_init__(self):
        check_positive(self, "steps", "checkpoint_every", "eval_every", "learning_rate")


@dataclasses.dataclass(frozen=True)
class TripleTrainConfig(TrainConfig):
    """The training loop of models trained on triples.

    Attributes:
      triple_batch_size: Training examples (triples) per step.
    """

    triple_batch_size: int = 256

    def __post_init__(self):
        super().__post_init__()
        check_positive(self, "triple_batch_size")


@dataclasses.dataclass(frozen=True)
class AlternatingTrainConfig(TrainConfig):
    """The training loop of two networks updated in turn (a GAN's D and G, AGE's e and g):
    Adam(learning_rate, β1) for each.

    Attributes:
      learning_rate: Adam learning rate of both networks.
      beta_1: Adam β1 of both networks (DCGAN's 0.5).
      batch_size: Photos per step.
    """

    learning_rate: float = 2e-4
    beta_1: float = 0.5
    batch_size: int = 64

    def __post_init__(self):
        super().__post_init__()
        check_positive(self, "batch_size")


@dataclasses.dataclass(frozen=True)
class SystemConfig:
    """What every system's config starts with. Subclasses add `dataset`, their data sections,
    `model` (a dataclass with `kind`, the model's registry name), `train` (a `TrainConfig`)
    and `eval`.

    Attributes:
      name: Run name; exports go to <export_dir>/<name>/<version>.
      work_dir: Checkpoints, TensorBoard logs, final weights, metrics and pictures.
      export_dir: Base folder of versioned exports.
    """

    name: str = "run"
    work_dir: str = "runs/run"
    export_dir: str = "exports"

    def check_dataset(self, needed: dict[str, tuple[str, ...]], otherwise: str) -> None:
        """Refuses a dataset the system cannot use (`otherwise` says why) and a dataset
        without the data fields it needs ({dataset: fields of `self.data`})."""
        if self.dataset not in needed:
            raise ValueError(otherwise)
        for field in needed[self.dataset]:
            if not getattr(self.data, field):
                raise ValueError(f"dataset {self.dataset!r} needs --{field}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def write(self, path: str, system: str) -> None:
        """Writes {"system": system, ...fields} as JSON (a work dir's config.json)."""
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            json.dump({"system": system, **self.to_dict()}, f, indent=2)

    @classmethod
    def from_dict(cls, raw: dict):
        return from_dict(cls, raw)


def from_dict(cls, raw: dict) -> Any:
    """A (nested) config dataclass from its `asdict` form; unknown or mistyped keys are errors
    naming them."""
    if not isinstance(raw, dict):
        raise ValueError(f"{cls.__name__} must be a JSON object, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    values = {}
    for name, value in raw.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            value = from_dict(kind, value)
        elif typing.get_origin(kind) is tuple:
            value = tuple(value)
        values[name] = value
    return cls(**values)


def read_config_file(path: str) -> tuple[str | None, dict]:
    """(system name or None for files written before systems were named, the fields) of a
    work dir's config.json."""
    try:
        with open(path) as f:
            raw = json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path!r} is not a valid config file: {error}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path!r} is not a valid config file: not a JSON object")
    return raw.pop("system", None), raw
