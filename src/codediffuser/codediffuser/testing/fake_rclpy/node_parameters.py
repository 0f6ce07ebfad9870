"""Parameter handling of the fake `Node`, with Humble's rules.

Why these rules matter: a node that passes here must not fail on a robot. As in Humble, a parameter is
statically typed by its default (`0.0` then an override `1` → `InvalidParameterTypeException`, unless the
descriptor sets `dynamic_typing`), an empty list default is a BYTE_ARRAY, the descriptor's ranges and
`read_only` are enforced, and reading an undeclared parameter raises `ParameterNotDeclaredException`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from codediffuser.testing.fake_rclpy.exceptions import (
    InvalidParameterTypeException,
    InvalidParameterValueException,
    ParameterAlreadyDeclaredException,
    ParameterNotDeclaredException,
    ParameterUninitializedException,
)
from codediffuser.testing.fake_rclpy.parameter import Parameter
from codediffuser.testing.messages import message_classes


def _descriptor_class() -> type:
    return message_classes()["rcl_interfaces/msg/ParameterDescriptor"]


def _result(successful: bool, reason: str = "") -> Any:
    return message_classes()["rcl_interfaces/msg/SetParametersResult"](successful=successful, reason=reason)


def _range_error(descriptor: Any, value: Any) -> str | None:
    """Why `value` breaks the descriptor's range, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    for bounds in [*descriptor.floating_point_range, *descriptor.integer_range]:
        if not bounds.from_value <= value <= bounds.to_value:
            return f"{value} is outside [{bounds.from_value}, {bounds.to_value}]"
    return None


class ParameterMixin:
    """declare/get/set/describe parameters; expects `_overrides` and `_allow_undeclared` on the node."""

    _overrides: dict[str, Any]
    _allow_undeclared: bool

    def _init_parameters(self) -> None:
        self._parameters: dict[str, Parameter] = {}
        self._declared_types: dict[str, Parameter.Type] = {}
        self._descriptors: dict[str, Any] = {}
        self._set_callbacks: list[Callable[[list[Parameter]], Any]] = []

    def declare_parameter(
        self, name: str, value: Any = None, descriptor: Any = None, ignore_override: bool = False
    ) -> Parameter:
        if name in self._parameters:
            raise ParameterAlreadyDeclaredException(f"parameter '{name}' is already declared")
        descriptor = descriptor if descriptor is not None else _descriptor_class()()
        declared = value if isinstance(value, Parameter.Type) else Parameter.Type.from_parameter_value(value)
        value = None if isinstance(value, Parameter.Type) else value
        if name in self._overrides and not ignore_override:
            override = self._overrides[name]
            if (
                not descriptor.dynamic_typing
                and declared != Parameter.Type.NOT_SET
                and not declared.check(override)
            ):
                raise InvalidParameterTypeException(
                    f"Trying to set parameter '{name}' to '{override!r}' of type "
                    f"'{Parameter.Type.from_parameter_value(override).name}', expecting type '{declared.name}'"
                )
            value = override
        if (reason := _range_error(descriptor, value)) is not None:
            raise InvalidParameterValueException(f"parameter '{name}': {reason}")
        parameter = Parameter(name, value=value)
        for callback in self._set_callbacks:
            if not (result := callback([parameter])).successful:
                raise InvalidParameterValueException(f"parameter '{name}' rejected: {result.reason}")
        descriptor.name = name
        descriptor.type = int(parameter.type_ if value is not None else declared)
        self._parameters[name] = parameter
        self._declared_types[name] = declared if declared != Parameter.Type.NOT_SET else parameter.type_
        self._descriptors[name] = descriptor
        return parameter

    def declare_parameters(
        self, namespace: str, parameters: Sequence[tuple], ignore_override: bool = False
    ) -> list[Parameter]:
        prefix = f"{namespace}." if namespace else ""
        return [
            self.declare_parameter(prefix + entry[0], *entry[1:], ignore_override=ignore_override)
            for entry in parameters
        ]

    def undeclare_parameter(self, name: str) -> None:
        if name not in self._parameters:
            raise ParameterNotDeclaredException(name)
        for table in (self._parameters, self._declared_types, self._descriptors):
            del table[name]

    def has_parameter(self, name: str) -> bool:
        return name in self._parameters

    def get_parameter(self, name: str) -> Parameter:
        if name not in self._parameters:
            if self._allow_undeclared:
                return Parameter(name, Parameter.Type.NOT_SET, None)
            raise ParameterNotDeclaredException(f"parameter '{name}' is not declared")
        parameter = self._parameters[name]
        if parameter.value is None and self._declared_types[name] != Parameter.Type.NOT_SET:
            raise ParameterUninitializedException(
                f"parameter '{name}' is declared with a type only and has no value"
            )
        return parameter

    def get_parameter_or(self, name: str, alternative_value: Parameter | None = None) -> Parameter | None:
        return self._parameters.get(name, alternative_value)

    def get_parameters(self, names: Sequence[str]) -> list[Parameter]:
        return [self.get_parameter(name) for name in names]

    def get_parameters_by_prefix(self, prefix: str) -> dict[str, Parameter]:
        head = f"{prefix}." if prefix else ""
        return {name[len(head) :]: p for name, p in self._parameters.items() if name.startswith(head)}

    def describe_parameter(self, name: str) -> Any:
        if name not in self._descriptors:
            raise ParameterNotDeclaredException(f"parameter '{name}' is not declared")
        return self._descriptors[name]

    def describe_parameters(self, names: Sequence[str]) -> list[Any]:
        return [self.describe_parameter(name) for name in names]

    def add_on_set_parameters_callback(self, callback: Callable[[list[Parameter]], Any]) -> None:
        self._set_callbacks.insert(0, callback)

    def remove_on_set_parameters_callback(self, callback: Callable[[list[Parameter]], Any]) -> None:
        self._set_callbacks.remove(callback)

    def set_parameters(self, parameters: Sequence[Parameter]) -> list[Any]:
        """Set each parameter (declared ones only); a rejected one keeps its value and gets a reason."""
        return [self._set_one(parameter) for parameter in parameters]

    def _set_one(self, parameter: Parameter) -> Any:
        name = parameter.name
        if name not in self._parameters:
            raise ParameterNotDeclaredException(f"parameter '{name}' is not declared")
        descriptor = self._descriptors[name]
        declared = self._declared_types[name]
        if descriptor.read_only:
            return _result(False, f"Trying to set a read-only parameter: {name}")
        if not descriptor.dynamic_typing and not declared.check(parameter.value):
            return _result(
                False, f"Wrong parameter type, expected '{declared.name}', got '{parameter.type_.name}'"
            )
        if (reason := _range_error(descriptor, parameter.value)) is not None:
            return _result(False, reason)
        for callback in self._set_callbacks:
            if not (result := callback([parameter])).successful:
                return result
        self._parameters[name] = parameter
        return _result(True)
