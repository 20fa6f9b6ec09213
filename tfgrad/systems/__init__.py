"""The systems, one room each: its config, data preparation, model choice, evaluation tables
and export, behind `tfgrad.core.system.System`. Registered in `tfgrad.core.registry`."""
