"""The steps every system has, as one base class, and the typed results they produce.

A system (CGIR, DVBPR, …) is a room: its module under `tfgrad/systems/` subclasses `System` and
says how to prepare its data from its config, build and compile a model, feed it, watch it
during training (and choose the weights to keep), evaluate it into `Table`s, and turn it into
spaces and an export. `tfgrad.core.run` drives these steps for every system alike; nothing
outside a system's module knows it by name.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping, Optional, Sequence

import keras
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model a system can train: its display name (the table row) and what it is."""

    display_name: str
    description: str = ""


@dataclasses.dataclass(frozen=True)
class Table:
    """One results table: {row: {column: value}}, rows in order (model rows first).

    Attributes:
      name: e.g. "synthetic", "genome", "auc".
      columns: the columns printed, in order.
      rows: {row name: {column: value}}; a row may hold more columns than are printed.
      chance_row: the row every model row is compared with ("random"), if the table has one.
      title: how printed tables are headed; default the name.
      model_row: the evaluated model's row here when it is not the evaluation's `model_row`
        (a table that shows the model once per setting, e.g. ADDE's walks per decoding).
    """

    name: str
    columns: tuple[str, ...]
    rows: dict[str, dict[str, float]]
    chance_row: Optional[str] = None
    title: Optional[str] = None
    model_row: Optional[str] = None

    @property
    def heading(self) -> str:
        return self.title or self.name

    def with_rows(self, rows: Mapping[str, dict]) -> "Table":
        """This table with `rows` added after its own; a row it has already is kept."""
        return dataclasses.replace(self, rows={**self.rows, **{
            row: values for row, values in rows.items() if row not in self.rows}})


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """What evaluating one model gives: tables, pictures and what else the metrics file keeps.

    Attributes:
      tables: {table name: Table}.
      main: the name of the table a run reports first.
      model_row: the evaluated model's row name in every table.
      pictures: {TensorBoard tag: PNG bytes}.
      files: {file name in the work dir: PNG bytes} (e.g. walks.png).
      details: more JSON-able facts for the metrics file.
    """

    tables: dict[str, Table]
    main: str
    model_row: str
    pictures: dict[str, bytes] = dataclasses.field(default_factory=dict)
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def with_reference(self, reference: "Evaluation | None") -> "Evaluation":
        """This evaluation with a reference evaluation's rows (untrained model, chance) added
        to the tables both have, or taken whole where this one has none."""
        if reference is None:
            return self
        tables = dict(self.tables)
        for name, table in reference.tables.items():
            tables[name] = tables[name].with_rows(table.rows) if name in tables else table
        return dataclasses.replace(self, tables=tables)


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One finished run: its evaluation, where it was exported, training time and the weights
    kept ({"step": …, plus what chose them})."""

    evaluation: Evaluation
    export_path: Optional[str]
    train_seconds: float
    selected: dict

    @property
    def main_table(self) -> Table:
        return self.evaluation.tables[self.evaluation.main]


@dataclasses.dataclass(frozen=True)
class Spaces:
    """A trained model's spaces (`tfgrad.spaces`): its items, and its users if it has any."""

    items: Any
    users: Any = None


@dataclasses.dataclass(frozen=True)
class LoadedRun:
    """A finished run read back from its work dir: the system, the config it ran with, its
    prepared data and the model with its kept weights."""

    system: "System"
    config: Any
    data: Any
    model: keras.Model

    @property
    def spaces(self) -> Spaces:
        return self.system.spaces(self.model, self.config, self.data)


class Monitor:
    """Called every `eval_every` steps during training (TensorBoard, model selection); decides
    which weights a run keeps. The default keeps the final weights."""

    def __call__(self, model: keras.Model, step: int) -> None:
        """Evaluates `model` at `step` during training."""

    def finish(self, model: keras.Model, step: int) -> dict:
        """After the last step: the weights kept, as {"step": …}."""
        return {"step": step}

    def restore(self, model: keras.Model) -> None:
        """Loads the kept weights into `model` (the final ones are there already)."""


class System:
    """Base of the systems: subclasses set the class attributes and implement the steps.

    Attributes:
      name: the registry name ("cgir").
      config_class: its `SystemConfig` subclass.
      models: {model name: ModelSpec}; the first is the default.
      description: one line for listings.
      evaluation_sections: the config sections that only evaluation reads, which
        `tfgrad.evaluate --work_dir` may change for a finished run.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    models: ClassVar[dict[str, ModelSpec]]
    description: ClassVar[str] = ""
    evaluation_sections: ClassVar[tuple[str, ...]] = ("eval",)

    def display_name(self, kind: str) -> str:
        return self.models[kind].display_name

    # Data and model.
    def prepare(self, config, kinds: Sequence[str], cache_dir: Optional[str] = None) -> Any:
        """Loads and splits the data `config` names, with what models `kinds` need."""
        raise NotImplementedError

    def describe(self, data) -> str:
        """One line about the prepared data (sizes), printed before training."""
        raise NotImplementedError

    def build(self, config, data) -> keras.Model:
        """The built, untrained model `config.model.kind` names (under the caller's strategy)."""
        raise NotImplementedError

    def warm_start(self, model: keras.Model, config, data) -> None:
        """Sets starting weights a fresh training run begins from (not when a finished run is
        loaded, whose kept weights replace them anyway); by default none."""

    def optimizer(self, model: keras.Model, config) -> keras.optimizers.Optimizer:
        """The optimizer `model` trains with."""
        return keras.optimizers.Adam(config.train.learning_rate)

    def compile(self, model: keras.Model, config) -> None:
        """Compiles `model` (under the strategy's scope) with `optimizer`; a model with several
        optimizers (a GAN's) overrides this."""
        model.compile(optimizer=self.optimizer(model, config))

    def training_dataset(self, model: keras.Model, config, data) -> tf.data.Dataset:
        """An endless dataset of global training batches."""
        raise NotImplementedError

    def monitor(self, config, data) -> Monitor:
        """What watches training every eval_every steps and chooses the weights to keep."""
        return Monitor()

    # Evaluation.
    def evaluate(self, model: keras.Model, config, data, index: Optional[str] = None
                 ) -> Evaluation:
        """The model's rows of every table (and its pictures); `index` the search index
        ("brute_force" / "scann"), None for the config's."""
        raise NotImplementedError

    def reference(self, config, data, index: Optional[str] = None) -> Optional[Evaluation]:
        """The rows every model is read beside (an untrained model, chance, popularity)."""
        return None

    def summary(self, config, result: RunResult) -> str:
        """The line `tfgrad.train` prints above the main table."""
        return (f"{config.name}: trained {config.train.steps} steps in "
                f"{result.train_seconds:.1f} s; {result.main_table.name}:")

    # Spaces and export.
    def spaces(self, model: keras.Model, config, data) -> Spaces:
        """The trained model's item space (and user space, for recommenders): what other
        systems and every export read of it."""
        raise NotImplementedError

    def export(self, model: keras.Model, config, data) -> str:
        """Exports the trained model's spaces; returns the ScaNN export's version path."""
        raise NotImplementedError

