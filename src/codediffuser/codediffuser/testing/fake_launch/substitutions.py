"""Fake `launch.substitutions`: values resolved against a `LaunchContext` when the launch file is run."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SomeSubstitutions = Any  # str | Substitution | an iterable of them (concatenated)


class Substitution:
    """Base class: `perform(context)` returns the text."""

    def perform(self, context: Any) -> str:
        raise NotImplementedError


def perform_substitutions(context: Any, value: SomeSubstitutions) -> str:
    """Resolve a string, a substitution or a list of them (concatenated), as launch does."""
    if isinstance(value, str):
        return value
    if isinstance(value, Substitution):
        return value.perform(context)
    if isinstance(value, Iterable):
        return "".join(perform_substitutions(context, v) for v in value)
    raise TypeError(f"not a substitution: {value!r}")


class TextSubstitution(Substitution):
    """Literal text."""

    def __init__(self, *, text: str) -> None:
        self.text = text

    def perform(self, context: Any) -> str:
        return self.text


class LaunchConfiguration(Substitution):
    """The value of a launch argument / configuration."""

    def __init__(self, variable_name: SomeSubstitutions, *, default: SomeSubstitutions | None = None) -> None:
        self.variable_name = variable_name
        self.default = default

    def perform(self, context: Any) -> str:
        name = perform_substitutions(context, self.variable_name)
        if name in context.launch_configurations:
            return context.launch_configurations[name]
        if self.default is not None:
            return perform_substitutions(context, self.default)
        from codediffuser.testing.fake_launch import LaunchError

        raise LaunchError(f"launch configuration '{name}' does not exist")


class PathJoinSubstitution(Substitution):
    """Join path components (each itself a substitution)."""

    def __init__(self, substitutions: Iterable[SomeSubstitutions]) -> None:
        self.substitutions = list(substitutions)

    def perform(self, context: Any) -> str:
        return os.path.join(*(perform_substitutions(context, s) for s in self.substitutions))


class PythonExpression(Substitution):
    """Evaluate the concatenated text as a Python expression (launch allows the math module)."""

    def __init__(self, expression: SomeSubstitutions) -> None:
        self.expression = expression

    def perform(self, context: Any) -> str:
        return str(eval(perform_substitutions(context, self.expression), {"math": math}))


class EnvironmentVariable(Substitution):
    """An environment variable, with an optional default."""

    def __init__(self, name: SomeSubstitutions, *, default_value: SomeSubstitutions | None = None) -> None:
        self.name = name
        self.default_value = default_value

    def perform(self, context: Any) -> str:
        name = perform_substitutions(context, self.name)
        if name in os.environ:
            return os.environ[name]
        if self.default_value is None:
            from codediffuser.testing.fake_launch import LaunchError

            raise LaunchError(f"environment variable '{name}' is not set")
        return perform_substitutions(context, self.default_value)


class ThisLaunchFileDir(Substitution):
    """The folder of the launch file being run."""

    def perform(self, context: Any) -> str:
        return str(Path(context.current_launch_file).parent)
