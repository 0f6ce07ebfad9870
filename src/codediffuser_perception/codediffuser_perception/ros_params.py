"""One schema for YAML, CLI flags and ROS parameters: a node's configuration is a dataclass.

A node configuration is a `@dataclass` whose fields are documented in a google-style `Attributes:`
section and validated in `__post_init__` (the core configs, e.g. `FusionConfig`, already are). This
module maps such a class, field by field, onto

- ROS 2 parameters declared with their descriptions (`declare_config`): a field `voxel_size_m` of a
  nested dataclass field `fusion` becomes the parameter `fusion.voxel_size_m` (ROS's dotted names,
  i.e. nested mappings in a parameter file);
- the ROS 2 parameter-file format (`load_node_params`): `config/nodes.yaml` is passed to the nodes by
  the launch files and read by the CLI (`codediffuser replay`) the same way;
- argparse flags (`add_config_arguments` / `config_from_arguments`): `--fusion.voxel-size-m 0.01`.

Types: bool, int, float, str, `pathlib.Path` (a string), tuples/lists/Sequences of one of the scalar
types (ROS arrays), nested dataclasses, and `X | None` of a string or sequence, where the empty value ("" or
[]) means None (ROS parameters have no null). Anything else is a `TypeError` when the schema is built,
so a config a node cannot expose fails in the tests, not on the robot.

No rclpy import here: `declare_config` only calls `node.declare_parameter` / `node.get_parameter`, and
the descriptor class is imported from `rcl_interfaces` where it is used.
"""

from __future__ import annotations

import argparse
import collections.abc
import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "ParamSpec",
    "add_config_arguments",
    "config_from_arguments",
    "config_from_params",
    "config_to_params",
    "declare_config",
    "load_node_params",
    "param_specs",
]

_SCALARS = (bool, int, float, str)


class ConfigError(ValueError):
    """A parameter file or parameter set that does not fit the configuration schema; names the key."""


@dataclass(frozen=True)
class ParamSpec:
    """One flattened configuration field.

    Attributes:
        name: dotted parameter name, e.g. "fusion.voxel_size_m".
        kind: the element type (bool, int, float or str).
        is_sequence: an array parameter (a tuple or list field).
        optional: the field admits None, carried as the empty value.
        default: the default as a ROS parameter value (never None).
        description: the field's documentation from the class docstring.
    """

    name: str
    kind: type
    is_sequence: bool
    optional: bool
    default: Any
    description: str


def _attribute_docs(cls: type) -> dict[str, str]:
    """Field name → text of the google-style `Attributes:` section of `cls`'s docstring.

    Grouped entries ("workspace_min, workspace_max: ...") document each name listed.
    """
    doc = cls.__doc__ or ""
    match = re.search(r"^(\s*)Attributes:\s*\n", doc, re.M)
    if match is None:
        return {}
    docs: dict[str, str] = {}
    current: list[str] = []
    entry_indent: int | None = None
    for line in doc[match.end() :].splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if entry_indent is None:
            entry_indent = indent
        if indent < entry_indent:
            break  # the next section
        head = re.match(r"\s*([\w, ]+?):\s*(.*)", line) if indent == entry_indent else None
        if head:
            current = [n.strip() for n in head.group(1).split(",")]
            for name in current:
                docs[name] = head.group(2).strip()
        else:
            for name in current:
                docs[name] = f"{docs[name]} {line.strip()}".strip()
    return docs


def _classify(annotation: Any, where: str) -> tuple[type, bool, bool]:
    """(element type, is a sequence, optional) of a field annotation; `TypeError` if unsupported."""
    optional = False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"{where}: unsupported union annotation {annotation}")
        optional, annotation = True, rest[0]
        args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (tuple, list, collections.abc.Sequence):
        elements = {a for a in args if a is not Ellipsis}
        if len(elements) != 1 or next(iter(elements)) not in (*_SCALARS, Path):
            raise TypeError(f"{where}: sequences must hold one scalar type, got {annotation}")
        kind = next(iter(elements))
        return (str if kind is Path else kind), True, optional
    if annotation is Path:
        annotation = str
    if annotation not in _SCALARS:
        raise TypeError(f"{where}: unsupported parameter type {annotation}")
    if optional and annotation is not str:
        raise TypeError(f"{where}: an optional number has no ROS parameter value for None; use a sentinel")
    return annotation, False, optional


def _to_param_value(value: Any, kind: type, is_sequence: bool) -> Any:
    if value is None:
        return [] if is_sequence else ""
    if is_sequence:
        return [kind(v) for v in value]
    return str(value) if kind is str else value


def param_specs(cls: type, prefix: str = "", defaults: Any | None = None) -> list[ParamSpec]:
    """Flatten the dataclass `cls` into parameter specifications (nested dataclasses get a dotted prefix).

    Args:
        cls: the configuration dataclass.
        prefix: prepended to every name ("fusion." for a nested field).
        defaults: an instance whose values become the defaults; default: `cls()`.

    Raises:
        TypeError: a field type that has no ROS parameter equivalent, or a field without documentation.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    docs = _attribute_docs(cls)
    instance = defaults if defaults is not None else cls()
    specs: list[ParamSpec] = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        name = prefix + f.name
        annotation = hints[f.name]
        value = getattr(instance, f.name)
        if dataclasses.is_dataclass(annotation):
            specs.extend(param_specs(annotation, prefix=name + ".", defaults=value))
            continue
        if f.name not in docs:
            raise TypeError(f"{cls.__name__}.{f.name} has no entry in the class's 'Attributes:' docstring")
        kind, is_sequence, optional = _classify(annotation, f"{cls.__name__}.{f.name}")
        specs.append(
            ParamSpec(
                name, kind, is_sequence, optional, _to_param_value(value, kind, is_sequence), docs[f.name]
            )
        )
    return specs


def _coerce(spec: ParamSpec, value: Any) -> Any:
    """A parameter value (from ROS, YAML or argparse) → the field value; `ConfigError` naming the key."""

    def scalar(v: Any) -> Any:
        if spec.kind is bool:
            if isinstance(v, bool):
                return v
            raise ConfigError(f"parameter {spec.name!r} must be true or false, got {v!r}")
        if spec.kind is float and isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
        if spec.kind is int and isinstance(v, int) and not isinstance(v, bool):
            return v
        if spec.kind is str and isinstance(v, str | Path):
            return str(v)
        raise ConfigError(f"parameter {spec.name!r} must be {spec.kind.__name__}, got {v!r}")

    if spec.is_sequence:
        if not isinstance(value, list | tuple):
            raise ConfigError(
                f"parameter {spec.name!r} must be a list of {spec.kind.__name__}, got {value!r}"
            )
        if spec.optional and len(value) == 0:
            return None
        return tuple(scalar(v) for v in value)
    if spec.optional and value == "":
        return None
    return scalar(value)


def config_from_params(cls: type, values: Mapping[str, Any], prefix: str = "") -> Any:
    """Build `cls` from flat dotted parameter values; missing keys keep their defaults.

    Raises:
        ConfigError: an unknown key (the message lists the known ones), a value of the wrong type, or a
            value the dataclass's own validation refuses (its message is kept).
    """
    specs = {s.name: s for s in param_specs(cls, prefix)}
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise ConfigError(f"unknown parameters {unknown} for {cls.__name__}; known: {sorted(specs)}")
    return _build(cls, {k: _coerce(specs[k], v) for k, v in values.items()}, prefix)


def _build(cls: type, values: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        name = prefix + f.name
        if dataclasses.is_dataclass(hints[f.name]):
            if any(k.startswith(name + ".") for k in values):
                kwargs[f.name] = _build(hints[f.name], values, name + ".")
        elif name in values:
            kwargs[f.name] = values[name]
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def config_to_params(config: Any, prefix: str = "") -> dict[str, Any]:
    """The flat dotted parameter values of a configuration instance (what `declare_config` declares)."""
    return {s.name: s.default for s in param_specs(type(config), prefix, defaults=config)}


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def load_node_params(path: str | Path, node_name: str) -> dict[str, Any]:
    """Flat parameter values for `node_name` from a ROS 2 parameter file.

    The format is the one `ros2 run --ros-args --params-file` and launch read: top-level keys are node
    names (optionally with a namespace, or the wildcard `/**`) holding `ros__parameters`; wildcard
    sections apply first, the node's own section overrides them.

    Raises:
        ConfigError: the file is missing, is not a parameter file, or has no section for the node.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"parameter file {path} does not exist")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a parameter file must hold a mapping of node names")
    values: dict[str, Any] = {}
    found = False
    for pattern in ("/**", "**"):
        if pattern in data:
            values.update(_section(data[pattern], path, pattern))
    for key, section in data.items():
        if key not in ("/**", "**") and key.strip("/").split("/")[-1] == node_name:
            values.update(_section(section, path, key))
            found = True
    if not found:
        raise ConfigError(f"{path}: no section for node {node_name!r} (sections: {sorted(data)})")
    return values


def _section(section: Any, path: Path, key: str) -> dict[str, Any]:
    if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
        raise ConfigError(f"{path}: section {key!r} must hold a 'ros__parameters' mapping")
    return _flatten(section["ros__parameters"])


def declare_config(node: Any, cls: type, prefix: str = "") -> Any:
    """Declare every field of `cls` as a ROS parameter of `node` (with its description) and read them back.

    Values come from the node's parameter overrides (launch `parameters=`, `--params-file`, `-p`) or the
    dataclass defaults. Empty-sequence defaults are declared with dynamic typing (ROS cannot infer an
    array's type from an empty list); everything else is statically typed.

    Returns:
        The validated configuration instance.

    Raises:
        ConfigError: a value of the wrong type or refused by the dataclass's validation.
    """
    from rcl_interfaces.msg import ParameterDescriptor

    specs = param_specs(cls, prefix)
    for spec in specs:
        dynamic = spec.is_sequence and len(spec.default) == 0
        descriptor = ParameterDescriptor(description=spec.description, dynamic_typing=dynamic)
        node.declare_parameter(spec.name, spec.default, descriptor)
    values = {spec.name: node.get_parameter(spec.name).value for spec in specs}
    for spec in specs:  # an unset dynamically typed parameter reads back as None
        if values[spec.name] is None:
            values[spec.name] = spec.default
    return _build(cls, {s.name: _coerce(s, values[s.name]) for s in specs}, prefix)


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """One `--dotted.name` flag per parameter of `cls` (hyphens for underscores), default None = unset."""
    for spec in param_specs(cls, prefix):
        flag = "--" + spec.name.replace("_", "-")
        if spec.kind is bool:
            parser.add_argument(
                flag,
                dest=spec.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=spec.description,
            )
        else:
            parser.add_argument(
                flag,
                dest=spec.name,
                type=spec.kind,
                nargs="*" if spec.is_sequence else None,
                default=None,
                help=spec.description,
            )


def config_from_arguments(
    cls: type, args: argparse.Namespace, base: Mapping[str, Any] | None = None, prefix: str = ""
) -> Any:
    """Build `cls` from parameter-file values `base` with the explicitly given flags on top."""
    names = {s.name for s in param_specs(cls, prefix)}
    flags = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return config_from_params(cls, {**(base or {}), **flags}, prefix)
