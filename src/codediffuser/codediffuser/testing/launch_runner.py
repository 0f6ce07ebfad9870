"""`run_launch()`: execute a launch file's `generate_launch_description()` without ROS and return its nodes.

The fake `launch`, `launch_ros` and `ament_index_python` modules are installed only while the file runs.
Package share folders default to the repository's `src/<package>` folders (the bring-up package's
`launch/` and `config/` links make `FindPackageShare("codediffuser")/config/...` resolve as on a ROS
machine); packages outside the run (interbotix, realsense2_camera, ...) resolve to
`EXTERNAL_SHARE/<package>`, and includes of their launch files are recorded, not run.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path

from codediffuser.testing import fake_launch, fake_launch_ros
from codediffuser.testing.fake_launch import (
    EXTERNAL_SHARE,
    DeclaredArgument,
    ExternalInclude,
    LaunchContext,
    LaunchError,
    actions,
    conditions,
    launch_description_sources,
    substitutions,
)
from codediffuser.testing.fake_launch_ros.actions import LaunchedNode
from codediffuser.testing.fake_launch_ros.substitutions import share_directory
from codediffuser.testing.harness import installed_modules

SRC_DIR = Path(__file__).resolve().parents[3]

__all__ = [
    "EXTERNAL_SHARE",
    "LaunchError",
    "LaunchResult",
    "LaunchedNode",
    "default_package_shares",
    "run_launch",
]


@dataclass
class LaunchResult:
    """What a launch file starts: nodes (in launch order), external includes, declared arguments, logs."""

    nodes: list[LaunchedNode]
    includes: list[ExternalInclude]
    arguments: dict[str, DeclaredArgument]
    logs: list[str]

    def node(self, name: str) -> LaunchedNode:
        """The node called `name` (or with that fully qualified name)."""
        for node in self.nodes:
            if name in (node.name, node.fully_qualified_name):
                return node
        raise KeyError(f"no node {name!r}; launched: {[n.fully_qualified_name for n in self.nodes]}")

    @property
    def enabled_nodes(self) -> list[LaunchedNode]:
        return [n for n in self.nodes if n.enabled]

    def parameter_overrides(self) -> dict[str, dict]:
        """Resolved parameters of the enabled, named nodes, keyed by full name: `fake_ros(parameters=...)`.

        Starting the nodes under the harness with these catches what the robot would reject at start-up,
        e.g. a YAML `1` for a parameter declared with the float default `1.0`.
        """
        return {n.fully_qualified_name: dict(n.parameters) for n in self.enabled_nodes if n.name is not None}


def default_package_shares() -> dict[str, str]:
    """Package name -> share folder for every package of this repository (`src/<package>`)."""
    return {p.name: str(p) for p in sorted(SRC_DIR.iterdir()) if (p / "package.xml").is_file()}


def _ament_index(shares: dict[str, str]) -> dict[str, types.ModuleType]:
    top = types.ModuleType("ament_index_python", "Fake ament_index_python (codediffuser.testing).")
    packages = types.ModuleType("ament_index_python.packages")

    def get_package_share_directory(package_name: str, print_warning: bool = True) -> str:
        return share_directory(shares, package_name)

    packages.get_package_share_directory = get_package_share_directory
    top.packages = packages
    top.get_package_share_directory = get_package_share_directory
    return {"ament_index_python": top, "ament_index_python.packages": packages}


def launch_modules(shares: dict[str, str]) -> dict[str, types.ModuleType]:
    """The fake modules by their real names."""
    return {
        "launch": fake_launch,
        "launch.actions": actions,
        "launch.conditions": conditions,
        "launch.launch_description_sources": launch_description_sources,
        "launch.substitutions": substitutions,
        "launch_ros": fake_launch_ros,
        "launch_ros.actions": fake_launch_ros.actions,
        "launch_ros.substitutions": fake_launch_ros.substitutions,
        **_ament_index(shares),
    }


def run_launch(
    path: str | Path,
    launch_arguments: dict[str, str] | None = None,
    package_shares: dict[str, str] | None = None,
) -> LaunchResult:
    """Run the launch file at `path` with `launch_arguments` (as `ros2 launch ... name:=value` would).

    Args:
        path: the launch file.
        launch_arguments: argument values (strings, as on the command line).
        package_shares: package -> share folder, added to (and overriding) `default_package_shares()`.

    Raises:
        LaunchError: a required argument is missing, a value is not among the choices, a file is missing.
    """
    shares = {**default_package_shares(), **(package_shares or {})}
    context = LaunchContext(launch_configurations=dict(launch_arguments or {}), package_shares=shares)
    with installed_modules(launch_modules(shares)):
        context.run_file(str(path))
    return LaunchResult(context.nodes, context.includes, context.arguments, context.logs)
