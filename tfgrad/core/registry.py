"""Names → systems and models. Entry points dispatch through here, never through `if` chains on
names; a new system is one line in `SYSTEMS`."""

from __future__ import annotations

import os

from tfgrad.config import read_config_file
from tfgrad.core.run import CONFIG_FILE, check_finished
from tfgrad.core.system import System
from tfgrad.systems import adde, age, cgir, dvbpr, lsgan

SYSTEMS: dict[str, System] = {system.name: system
                              for system in (cgir.SYSTEM, dvbpr.SYSTEM, lsgan.SYSTEM,
                                             age.SYSTEM, adde.SYSTEM)}


def system(name: str) -> System:
    """The system called `name`; an unknown name lists the known ones."""
    if name not in SYSTEMS:
        raise ValueError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
    return SYSTEMS[name]


def model_names() -> list[str]:
    """Every model of every system, in registry order."""
    return [model for entry in SYSTEMS.values() for model in entry.models]


def system_of_model(model: str) -> System:
    """The system that trains `model`; an unknown name lists the known ones."""
    for entry in SYSTEMS.values():
        if model in entry.models:
            return entry
    raise ValueError(f"unknown model {model!r}; known: {', '.join(model_names())}")


def system_of_work_dir(work_dir: str) -> System:
    """The system whose finished run `work_dir` holds (named in its config.json; inferred
    from the model for files written before systems were named)."""
    check_finished(work_dir)
    name, raw = read_config_file(os.path.join(work_dir, CONFIG_FILE))
    if name is not None:
        return system(name)
    return system_of_model(raw.get("model", {}).get("kind", ""))


def config_classes() -> dict[str, type]:
    """{system name: its config dataclass}, what `tfgrad.flags.define_config_flags` defines."""
    return {name: entry.config_class for name, entry in SYSTEMS.items()}
