"""The one comparison loop, for every system: models × seeds → tables of mean ± std.

Each model is trained per seed in `<work_dir>/<model>/seed<k>/`, or loaded when a finished
run of the same configuration is there; every seed's data is prepared once for all models. The
reference rows (an untrained model, chance) come once per seed; a reference row that is also a
compared model (DVBPR's RAND and PopRank) is that model's.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Sequence

import numpy as np

from tfgrad.core import run as core_run
from tfgrad.core.system import System, Table


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Tables of {row: {column: {"mean", "std", "values"}}}, and what the comparison cost.

    Attributes:
      tables: {table name: Table whose cells are statistics over seeds}.
      seconds: the whole comparison.
      train_seconds: {row: training seconds per seed (NaN where loaded)}.
      seeds: how many seeds.
    """

    tables: dict[str, Table]
    seconds: float
    train_seconds: dict[str, list[float]]
    seeds: int


def mean_and_std(values: list[float]) -> dict:
    finite = [v for v in values if not np.isnan(v)]
    if not finite:
        return {"mean": float("nan"), "std": float("nan"), "values": values}
    return {"mean": float(np.mean(finite)),
            "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0,
            "values": values}


def model_config(base, kind: str):
    """The config of one compared model: its own name, work dir and model kind."""
    return dataclasses.replace(
        base, name=f"{base.name}_{kind}",
        work_dir=os.path.join(base.work_dir, kind, f"seed{base.train.seed}"),
        model=dataclasses.replace(base.model, kind=kind))


def compare(system: System, base, kinds: Sequence[str], seeds: int) -> Comparison:
    """Every model of `kinds` trained (or loaded) and evaluated for seeds base.train.seed,
    +1, …; rows are the models in `kinds` order, then the reference rows."""
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    collected: dict[str, dict[str, dict[str, list]]] = {}
    columns: dict[str, tuple[str, ...]] = {}
    chance_rows: dict[str, str] = {}
    titles: dict[str, str] = {}
    timings: dict[str, list[float]] = {}
    started = time.perf_counter()
    for offset in range(seeds):
        seed = base.train.seed + offset
        seeded = dataclasses.replace(base, train=dataclasses.replace(base.train, seed=seed))
        data = system.prepare(seeded, kinds, cache_dir=os.path.join(base.work_dir, "cache"))
        print(f"seed {seed}: {system.describe(data)}", flush=True)
        reference = None
        tables: dict[str, Table] = {}
        for position, kind in enumerate(kinds):
            config = model_config(seeded, kind)
            model, seconds = core_run.trained_or_loaded(system, config, data)
            timings.setdefault(system.display_name(kind), []).append(seconds)
            evaluation = system.evaluate(model, config, data, pictures=False)
            if position == 0:
                # Right after the first model, as every earlier comparison drew it (the
                # untrained model's initialisation follows the same random state).
                reference = system.reference(config, data)
            for name, table in evaluation.tables.items():
                tables[name] = tables[name].with_rows(table.rows) if name in tables else table
            main = evaluation.tables[evaluation.main]
            row = main.rows[evaluation.model_row]
            print(f"  {evaluation.model_row}: " + "  ".join(
                f"{column} {row.get(column, float('nan')):.4f}" for column in main.columns),
                flush=True)
        if reference is not None:
            for name, table in reference.tables.items():
                tables[name] = tables[name].with_rows(table.rows) if name in tables else table
        for name, table in tables.items():
            columns[name], chance_rows[name] = table.columns, table.chance_row
            titles[name] = table.title
            for row, values in table.rows.items():
                for column in table.columns:
                    collected.setdefault(name, {}).setdefault(row, {}).setdefault(
                        column, []).append(float(values.get(column, float("nan"))))
    return Comparison(
        tables={name: Table(name=name, columns=columns[name], chance_row=chance_rows[name],
                            title=titles[name],
                            rows={row: {column: mean_and_std(values)
                                        for column, values in cells.items()}
                                  for row, cells in rows.items()})
                for name, rows in collected.items()},
        seconds=time.perf_counter() - started, train_seconds=timings, seeds=seeds)


def format_comparison(table: Table) -> str:
    """A Markdown table of mean ± std cells (one value when there was one seed)."""
    def cell(stats):
        if np.isnan(stats["mean"]):
            return "–"
        # Counts (judged steps) print as whole numbers.
        digits = 0 if all(float(v).is_integer() for v in stats["values"]) else 4
        if len(stats["values"]) > 1:
            return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"
        return f"{stats['mean']:.{digits}f}"

    lines = ["| model | " + " | ".join(c.upper() for c in table.columns) + " |",
             "|---" * (len(table.columns) + 1) + "|"]
    for row, values in table.rows.items():
        lines.append(f"| {row} | " + " | ".join(cell(values[c]) for c in table.columns) + " |")
    return "\n".join(lines)
