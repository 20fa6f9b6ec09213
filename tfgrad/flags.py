"""Config dataclasses → absl flags, and parsed flags → a config (one generic path for every
system). Flags are defined in a function, so importing tfgrad never defines flags.

Every leaf field of a system's config is a flag named after the field (or its
`metadata["flag"]`), with the help of its docstring line. A flag several systems share is defined
once. A flag given on the command line or in a flagfile that is not a field of the chosen
system's config is an error naming the flag and the system; a flag not given takes the system's
own default.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Iterator, Sequence

from absl import flags

# Flag name -> the systems whose configs have it (filled by define_config_flags).
_SYSTEMS_OF_FLAG: dict[str, set[str]] = {}


@dataclasses.dataclass(frozen=True)
class FlagField:
    """One leaf field of a config tree: its path (("model", "kind")), flag name, type, default,
    help and choices."""

    path: tuple[str, ...]
    flag: str
    kind: object
    default: object
    help: str
    choices: tuple | None


def _docstring_help(cls) -> dict[str, str]:
    """{field: text} from the "Attributes:" sections of a dataclass's docstring and its bases'."""
    helps = {}
    for base in reversed(cls.__mro__):
        helps.update(_own_docstring_help(base))
    return helps


def _own_docstring_help(cls) -> dict[str, str]:
    doc = cls.__doc__ or ""
    if "Attributes:" not in doc:
        return {}
    helps, name = {}, None
    for line in doc.split("Attributes:", 1)[1].splitlines():
        match = re.match(r"\s{2,}(\w+): (.*)", line)
        if match and line.startswith(" " * 6) and not line.startswith(" " * 8):
            name = match[1]
            helps[name] = match[2].strip()
        elif name and line.strip() and line.startswith(" " * 8):
            helps[name] += " " + line.strip()
        elif not line.strip():
            name = None
    return helps


def flag_fields(cls, path: tuple[str, ...] = ()) -> Iterator[FlagField]:
    """Every leaf field of the config dataclass `cls`, depth first."""
    hints = typing.get_type_hints(cls)
    helps = _docstring_help(cls)
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            yield from flag_fields(kind, path + (field.name,))
            continue
        default = field.default
        yield FlagField(path=path + (field.name,), flag=field.metadata.get("flag", field.name),
                        kind=kind, default=default,
                        help=helps.get(field.name, f"{cls.__name__}.{field.name}."),
                        choices=field.metadata.get("choices"))


def _base_type(kind):
    """int for Optional[int], (tuple, int) for tuple[int, ...], else the type itself."""
    args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    if typing.get_origin(kind) is tuple:
        return (tuple, args[0])
    if args and typing.get_origin(kind) in (typing.Union, getattr(__import__("types"),
                                                                    "UnionType", None)):
        return args[0]
    return kind


def _define(field: FlagField, choices: Sequence, flag_values: flags.FlagValues) -> None:
    base = _base_type(field.kind)
    where = dict(flag_values=flag_values)
    if isinstance(base, tuple):
        flags.DEFINE_list(field.flag, [str(v) for v in field.default], field.help, **where)
    elif base is bool:
        flags.DEFINE_bool(field.flag, field.default, field.help, **where)
    elif base is int:
        flags.DEFINE_integer(field.flag, field.default, field.help, **where)
    elif base is float:
        flags.DEFINE_float(field.flag, field.default, field.help, **where)
    elif choices:
        flags.DEFINE_enum(field.flag, field.default, list(choices), field.help, **where)
    else:
        flags.DEFINE_string(field.flag, field.default, field.help, **where)


def define_config_flags(configs: dict[str, type],
                        flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the flags of every system's config ({system name: config class}). A flag shared
    by several systems is defined once, with the first system's default and help, and the union
    of their choices."""
    fields: dict[str, FlagField] = {}
    choices: dict[str, list] = {}
    for system, config_class in configs.items():
        for field in flag_fields(config_class):
            first = fields.setdefault(field.flag, field)
            if _base_type(first.kind) != _base_type(field.kind):
                raise TypeError(f"flag --{field.flag} has type {first.kind} in one system and "
                                f"{field.kind} in {system}")
            known = choices.setdefault(field.flag, [])
            known.extend(c for c in field.choices or () if c not in known)
            _SYSTEMS_OF_FLAG.setdefault(field.flag, set()).add(system)
    for name, field in fields.items():
        if name not in flag_values:
            _define(field, choices[name], flag_values)


def _value(field: FlagField, values: flags.FlagValues):
    value = values[field.flag].value
    base = _base_type(field.kind)
    if isinstance(base, tuple):
        try:
            return tuple(base[1](v) for v in value)
        except ValueError:
            raise ValueError(f"--{field.flag} must be a comma-separated list of "
                             f"{base[1].__name__}s, got {','.join(value)}") from None
    return value


def check_flags_apply(values: flags.FlagValues, config_class, system: str) -> None:
    """Refuses flags given for another system: a flag that does nothing is a defect."""
    own = {field.flag for field in flag_fields(config_class)}
    foreign = sorted(name for name, systems in _SYSTEMS_OF_FLAG.items()
                     if name not in own and name in values and values[name].present)
    if foreign:
        owners = sorted({s for name in foreign for s in _SYSTEMS_OF_FLAG[name]})
        raise ValueError(f"{', '.join('--' + name for name in foreign)} do(es) not apply to "
                         f"system {system!r} (flag(s) of {', '.join(owners)})")


def config_from_flags(config_class, values: flags.FlagValues, system: str,
                      overrides: dict | None = None):
    """The config of `system` from parsed flags: given flags override the config's defaults.

    Args:
      overrides: {flag: value} applied on top (e.g. the chosen model).
    """
    check_flags_apply(values, config_class, system)
    overrides = overrides or {}
    given: dict[tuple[str, ...], object] = {}
    for field in flag_fields(config_class):
        if field.flag in overrides:
            given[field.path] = overrides[field.flag]
        elif values[field.flag].present:
            given[field.path] = _value(field, values)
    return build_config(config_class, given)


def build_config(config_class, given: dict[tuple[str, ...], object], path=()):
    """`config_class` with the values at the given field paths, defaults elsewhere."""
    hints = typing.get_type_hints(config_class)
    kwargs = {}
    for field in dataclasses.fields(config_class):
        here = path + (field.name,)
        if dataclasses.is_dataclass(hints[field.name]):
            kwargs[field.name] = build_config(hints[field.name], given, here)
        elif here in given:
            kwargs[field.name] = given[here]
    return config_class(**kwargs)


def replace_given(config, values: flags.FlagValues, sections: Sequence[str]):
    """`config` with the given flags of `sections` (e.g. ("eval",)) replaced: how a finished
    run is re-evaluated with other evaluation settings."""
    for field in flag_fields(type(config)):
        if field.path[0] in sections and values[field.flag].present:
            config = _replace_at(config, field.path, _value(field, values))
    return config


def _replace_at(config, path: tuple[str, ...], value):
    """`config` with the field at `path` (a section's, or a nested section's) set to `value`."""
    if len(path) == 1:
        return dataclasses.replace(config, **{path[0]: value})
    return dataclasses.replace(config, **{
        path[0]: _replace_at(getattr(config, path[0]), path[1:], value)})


def define_system_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the flags of every registered system's config."""
    from tfgrad.core import registry

    define_config_flags(registry.config_classes(), flag_values)


def system_config_from_flags(values: flags.FlagValues, model: str | None = None):
    """(system, config) of the model `model` (default: --model) from parsed flags."""
    from tfgrad.core import registry

    model = values.model if model is None else model
    system = registry.system_of_model(model)
    return system, config_from_flags(system.config_class, values, system.name,
                                     overrides={"model": model})
