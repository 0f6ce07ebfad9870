"""A recording stand-in for the ROS 2 `launch` package (installed as `launch` by `run_launch`).

Actions are not processes here: running a launch description visits its actions in order, resolves
substitutions and conditions against a `LaunchContext`, and records each `launch_ros.actions.Node` as a
`LaunchedNode` (see `codediffuser.testing.launch_runner`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codediffuser.testing.fake_launch.substitutions import Substitution, perform_substitutions

EXTERNAL_SHARE = "/external-package-share"
"""Share folder reported for packages the run does not know (e.g. interbotix); includes below it are recorded, not run."""


class LaunchError(RuntimeError):
    """The launch file cannot run: a missing required argument, file, configuration or a bad condition."""


class LaunchDescription:
    """An ordered list of actions."""

    def __init__(self, initial_entities: Iterable[Any] | None = None) -> None:
        self.entities = list(initial_entities or [])

    def add_action(self, action: Any) -> None:
        self.entities.append(action)

    add_entity = add_action


@dataclass
class DeclaredArgument:
    """A launch argument a file declares: its default (resolved) and description."""

    name: str
    default: str | None
    description: str


@dataclass
class ExternalInclude:
    """An included launch file of a package outside this run (recorded with its arguments, not run)."""

    path: str
    arguments: dict[str, str]


@dataclass
class LaunchContext:
    """What a running launch description sees and what it produced."""

    launch_configurations: dict[str, str]
    package_shares: dict[str, str]
    current_launch_file: str = ""
    namespace: str = ""
    remappings: list[tuple[str, str]] = field(default_factory=list)
    global_parameters: dict[str, Any] = field(default_factory=dict)
    nodes: list[Any] = field(default_factory=list)
    includes: list[ExternalInclude] = field(default_factory=list)
    arguments: dict[str, DeclaredArgument] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)

    def perform_substitution(self, substitution: Substitution) -> str:
        return substitution.perform(self)

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Restore configurations, namespace, remappings and global parameters after the block."""
        saved = (
            dict(self.launch_configurations),
            self.namespace,
            list(self.remappings),
            dict(self.global_parameters),
            self.current_launch_file,
        )
        try:
            yield
        finally:
            (
                self.launch_configurations,
                self.namespace,
                self.remappings,
                self.global_parameters,
                self.current_launch_file,
            ) = saved

    def visit(self, entities: Iterable[Any]) -> None:
        """Run `entities` in order; nodes with a false condition are recorded as disabled."""
        for entity in entities:
            if isinstance(entity, LaunchDescription):
                self.visit(entity.entities)
                continue
            condition = getattr(entity, "condition", None)
            enabled = condition is None or condition.evaluate(self)
            if hasattr(entity, "record"):
                entity.record(self, enabled)
            elif enabled:
                self.visit(entity.execute(self) or [])

    def run_file(self, path: str) -> None:
        """Run the launch file at `path` in the current scope."""
        self.current_launch_file = path
        self.visit([load_launch_description(path)])


def load_launch_description(path: str) -> LaunchDescription:
    """Import a launch file (with the fake modules installed) and call its `generate_launch_description()`."""
    if not Path(path).is_file():
        raise LaunchError(f"launch file {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"_launch_file_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


__all__ = [
    "EXTERNAL_SHARE",
    "LaunchContext",
    "LaunchDescription",
    "LaunchError",
    "load_launch_description",
    "perform_substitutions",
]
