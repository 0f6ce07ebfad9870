"""Fake `launch_ros.actions`: `Node` (recorded with resolved parameters), `PushRosNamespace`, `SetRemap`, `SetParameter`.

Parameters resolve as launch_ros does: a file entry is a YAML parameter file (sections "/**", the node
name or its full name, `ros__parameters` inside, nested keys joined with "."); in a dict entry, nested
keys are joined with ".", plain Python values keep their type, a value given as a substitution is
resolved and parsed as YAML ("0" → 0, "true" → True, "" → error), lists must be non-empty and
uniform (ints mixed with floats become floats). Later entries override earlier ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from codediffuser.testing.fake_launch import LaunchContext, LaunchError
from codediffuser.testing.fake_launch.actions import Action
from codediffuser.testing.fake_launch.substitutions import (
    SomeSubstitutions,
    Substitution,
    perform_substitutions,
)


@dataclass
class LaunchedNode:
    """A node the launch description starts, fully resolved."""

    package: str
    executable: str
    name: str | None
    namespace: str
    parameters: dict[str, Any]
    parameter_files: list[str]
    remappings: list[tuple[str, str]]
    arguments: list[str]
    enabled: bool
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def fully_qualified_name(self) -> str | None:
        return None if self.name is None else f"{self.namespace.rstrip('/')}/{self.name}"


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _uniform(values: list[Any], name: str) -> list[Any]:
    if not values or len({type(v) for v in values}) != 1 or type(values[0]) not in (bool, int, float, str):
        raise LaunchError(
            f"parameter {name!r}: lists must be non-empty with items of one type (bool, int, float, str), got {values!r}"
        )
    return values


def _from_yaml(text: str, name: str) -> Any:
    """A substitution's text parsed as launch_ros does: YAML scalars or uniform lists only."""
    value = yaml.safe_load(text)
    if type(value) in (bool, int, float, str):
        return value
    if isinstance(value, list):
        return _uniform(value, name)
    raise LaunchError(
        f"parameter {name!r}: {text!r} evaluates to {type(value).__name__}, not a parameter value"
    )


def _evaluate(context: LaunchContext, name: str, value: Any) -> Any:
    """One dict parameter value, with launch_ros' normalisation rules."""
    if isinstance(value, Substitution):
        return _from_yaml(perform_substitutions(context, value), name)
    if isinstance(value, bool | int | float | str | bytes):
        return value  # plain Python values keep their type (strings stay strings)
    if not isinstance(value, list | tuple):
        raise LaunchError(f"parameter {name!r}: unsupported value {value!r}")
    if any(isinstance(v, Substitution) for v in value):  # substitutions and strings: one concatenated string
        return _from_yaml(perform_substitutions(context, value), name)
    if value and all(isinstance(v, bool) for v in value):
        return list(value)
    if value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return list(value) if all(isinstance(v, int) for v in value) else [float(v) for v in value]
    items = [
        _from_yaml(perform_substitutions(context, v), name) if isinstance(v, list | tuple) else v
        for v in value
    ]
    return _uniform(items, name)


def _evaluate_dict(context: LaunchContext, values: dict[Any, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = prefix + perform_substitutions(context, key)
        if isinstance(value, dict):
            flat.update(_evaluate_dict(context, value, name + "."))
        else:
            flat[name] = _evaluate(context, name, value)
    return flat


def load_parameter_file(path: str, name: str | None, namespace: str) -> dict[str, Any]:
    """The parameters a YAML parameter file gives the node `namespace/name`."""
    if not Path(path).is_file():
        raise LaunchError(f"parameter file {path} does not exist")
    content = yaml.safe_load(Path(path).read_text()) or {}
    full = None if name is None else f"{namespace.rstrip('/')}/{name}"
    keys = ["/**", *([] if name is None else [name, full, full.lstrip("/"), f"/**/{name}"])]
    merged: dict[str, Any] = {}
    for key in keys:
        section = content.get(key) or {}
        if not isinstance(section, dict) or ("ros__parameters" not in section and section):
            raise LaunchError(f"{path}: section {key!r} needs a 'ros__parameters' mapping")
        merged.update(_flatten(section.get("ros__parameters") or {}))
    return merged


def _join_namespace(outer: str, inner: str) -> str:
    if inner.startswith("/"):
        return "/" + inner.strip("/")
    return "/" + "/".join(p for p in (outer.strip("/"), inner.strip("/")) if p)


class Node(Action):
    """A ROS node to start; recorded as a `LaunchedNode` (disabled when its condition is false)."""

    def __init__(
        self,
        *,
        executable: SomeSubstitutions,
        package: SomeSubstitutions | None = None,
        name: SomeSubstitutions | None = None,
        namespace: SomeSubstitutions | None = None,
        parameters: list[Any] | None = None,
        remappings: list[tuple] | None = None,
        arguments: list[SomeSubstitutions] | None = None,
        condition: Any = None,
        **options: Any,
    ) -> None:
        super().__init__(condition=condition)
        self.executable, self.package, self.name, self.namespace = executable, package, name, namespace
        self.parameters, self.remappings = list(parameters or []), list(remappings or [])
        self.arguments, self.options = list(arguments or []), options

    def record(self, context: LaunchContext, enabled: bool) -> None:
        """Resolve everything against `context` and append the node to `context.nodes`."""

        def text(value: Any) -> str | None:
            return None if value is None else perform_substitutions(context, value)

        name = text(self.name)
        namespace = _join_namespace(context.namespace, text(self.namespace) or "")
        parameters, files = dict(context.global_parameters), []
        for entry in self.parameters:
            if isinstance(entry, dict):
                parameters.update(_evaluate_dict(context, entry))
            else:
                files.append(path := perform_substitutions(context, entry))
                if enabled:
                    parameters.update(load_parameter_file(path, name, namespace))
        remaps = [*context.remappings, *((text(a), text(b)) for a, b in self.remappings)]
        context.nodes.append(
            LaunchedNode(
                package=text(self.package) or "",
                executable=text(self.executable) or "",
                name=name,
                namespace=namespace,
                parameters=parameters,
                parameter_files=files,
                remappings=remaps,
                arguments=[text(a) or "" for a in self.arguments],
                enabled=enabled,
                options=dict(self.options),
            )
        )


class PushRosNamespace(Action):
    """Prefixes the namespace of the nodes that follow (in the current scope)."""

    def __init__(self, namespace: SomeSubstitutions, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.namespace = namespace

    def execute(self, context: LaunchContext) -> None:
        context.namespace = _join_namespace(context.namespace, perform_substitutions(context, self.namespace))


class SetRemap(Action):
    """Adds a remapping to the nodes that follow (in the current scope)."""

    def __init__(self, src: SomeSubstitutions, dst: SomeSubstitutions, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.src, self.dst = src, dst

    def execute(self, context: LaunchContext) -> None:
        context.remappings.append(
            (perform_substitutions(context, self.src), perform_substitutions(context, self.dst))
        )


class SetParameter(Action):
    """Gives every node that follows (in the current scope) a parameter."""

    def __init__(self, name: SomeSubstitutions, value: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name, self.value = name, value

    def execute(self, context: LaunchContext) -> None:
        name = perform_substitutions(context, self.name)
        context.global_parameters[name] = _evaluate(context, name, self.value)
