"""Fake `rclpy.exceptions`: the parameter errors real rclpy raises, with the same names."""

from __future__ import annotations


class NotInitializedException(RuntimeError):  # noqa: N818 (rclpy's name)
    """rclpy.init() was not called (or rclpy was shut down) before creating a node."""


class ParameterException(Exception):  # noqa: N818 (rclpy's name)
    """Base of the parameter errors."""


class ParameterNotDeclaredException(ParameterException):
    """The parameter was read or set before being declared."""


class ParameterAlreadyDeclaredException(ParameterException):
    """The parameter was declared twice."""


class InvalidParameterTypeException(ParameterException):
    """The value's type differs from the declared type (static typing, as in Humble)."""


class InvalidParameterValueException(ParameterException):
    """The value is out of the descriptor's range, or the parameter is read-only."""


class ParameterUninitializedException(ParameterException):
    """The parameter was declared with a type only and never given a value."""
