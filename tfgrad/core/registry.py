"""Names → systems and models. Entry points dispatch through here, never through `if` chains on
names; a new system is one line in `SYSTEMS`."""

from __future__ import annotations

from tfgrad.core.system import System
from tfgrad.systems import cgir, dvbpr, lsgan

SYSTEMS: dict[str, System] = {system.name: system
                              for system in (cgir.SYSTEM, dvbpr.SYSTEM, lsgan.SYSTEM)}


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


def config_classes() -> dict[str, type]:
    """{system name: its config dataclass}, what `tfgrad.flags.define_config_flags` defines."""
    return {name: entry.config_class for name, entry in SYSTEMS.items()}
