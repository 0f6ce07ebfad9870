"""Fake `rclpy.parameter.Parameter`: a named, typed value, with rclpy's type inference."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Parameter:
    """A node parameter: name, type and value."""

    class Type(IntEnum):
        """Parameter types, numbered as rcl_interfaces/ParameterType."""

        NOT_SET = 0
        BOOL = 1
        INTEGER = 2
        DOUBLE = 3
        STRING = 4
        BYTE_ARRAY = 5
        BOOL_ARRAY = 6
        INTEGER_ARRAY = 7
        DOUBLE_ARRAY = 8
        STRING_ARRAY = 9

        @classmethod
        def from_parameter_value(cls, value: Any) -> Parameter.Type:
            """Infer the type as rclpy does; raises TypeError for an unsupported value."""
            if value is None:
                return cls.NOT_SET
            for python_type, ptype in (
                (bool, cls.BOOL),
                (int, cls.INTEGER),
                (float, cls.DOUBLE),
                (str, cls.STRING),
            ):
                if isinstance(value, python_type):
                    return ptype
            if isinstance(value, list | tuple) and all(isinstance(v, bytes) for v in value):
                return cls.BYTE_ARRAY  # also [] (as in rclpy): declare list parameters with a typed default
            if isinstance(value, list | tuple):
                for python_type, ptype in (
                    (bool, cls.BOOL_ARRAY),
                    (int, cls.INTEGER_ARRAY),
                    (float, cls.DOUBLE_ARRAY),
                    (str, cls.STRING_ARRAY),
                ):
                    if all(
                        isinstance(v, python_type) and (python_type is bool or not isinstance(v, bool))
                        for v in value
                    ):
                        return ptype
            raise TypeError(f"The given value is not one of the allowed parameter types: {value!r}")

        def check(self, value: Any) -> bool:
            """Whether `value` may be stored in a parameter of this type."""
            return value is None or self == Parameter.Type.from_parameter_value(value)

    def __init__(self, name: str, type_: Parameter.Type | None = None, value: Any = None) -> None:
        if type_ is None:
            type_ = Parameter.Type.from_parameter_value(value)
        if not Parameter.Type(type_).check(value):
            raise ValueError(f"Type {type_!r} and value {value!r} do not agree")
        self._name = name
        self._type = Parameter.Type(type_)
        self._value = list(value) if isinstance(value, tuple) else value

    @property
    def name(self) -> str:
        return self._name

    @property
    def type_(self) -> Parameter.Type:
        return self._type

    @property
    def value(self) -> Any:
        return self._value

    def get_parameter_value(self) -> Any:
        """The value as an rcl_interfaces/ParameterValue message (`.double_value`, `.string_array_value`, ...)."""
        from codediffuser.testing.messages import message_classes

        msg = message_classes()["rcl_interfaces/msg/ParameterValue"](type=int(self._type))
        slot = {
            Parameter.Type.BOOL: "bool_value",
            Parameter.Type.INTEGER: "integer_value",
            Parameter.Type.DOUBLE: "double_value",
            Parameter.Type.STRING: "string_value",
            Parameter.Type.BYTE_ARRAY: "byte_array_value",
            Parameter.Type.BOOL_ARRAY: "bool_array_value",
            Parameter.Type.INTEGER_ARRAY: "integer_array_value",
            Parameter.Type.DOUBLE_ARRAY: "double_array_value",
            Parameter.Type.STRING_ARRAY: "string_array_value",
        }.get(self._type)
        if slot is not None:
            setattr(msg, slot, self._value)
        return msg

    def __repr__(self) -> str:
        return f"Parameter({self._name!r}, {self._type.name}, {self._value!r})"
