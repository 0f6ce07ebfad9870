"""Fake `launch.conditions`: `IfCondition` / `UnlessCondition` over "true"/"false"/"1"/"0"."""

from __future__ import annotations

from typing import Any

from codediffuser.testing.fake_launch.substitutions import SomeSubstitutions, perform_substitutions


class Condition:
    """Base class: `evaluate(context)` says whether the action runs."""

    def evaluate(self, context: Any) -> bool:
        raise NotImplementedError


def _as_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    from codediffuser.testing.fake_launch import LaunchError

    raise LaunchError(f"condition expression must be 'true', 'false', '1' or '0', got {text!r}")


class IfCondition(Condition):
    """Runs the action when the expression is true."""

    def __init__(self, predicate_expression: SomeSubstitutions) -> None:
        self.predicate_expression = predicate_expression

    def evaluate(self, context: Any) -> bool:
        return _as_bool(perform_substitutions(context, self.predicate_expression))


class UnlessCondition(IfCondition):
    """Runs the action when the expression is false."""

    def evaluate(self, context: Any) -> bool:
        return not super().evaluate(context)
