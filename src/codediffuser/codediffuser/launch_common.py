"""What launch/real.launch.py and launch/sim.launch.py build the same way: arguments, our three nodes, rviz2.

Both launch files import this module from the installed `codediffuser` package (as they import
`codediffuser.calibration_config` and `codediffuser_policy.kinematics`). `launch` and `launch_ros` are
imported inside the functions, when a launch file runs: the package itself stays importable without ROS,
and the test harness's fake `launch` modules (installed only while a launch file runs) are the ones used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OUR_NODES = (
    ("codediffuser_perception", "fusion_node"),
    ("codediffuser_codegen", "codegen_node"),
    ("codediffuser_policy", "policy_node"),
)
"""(package, executable = node name) of the codediffuser nodes, in launch order."""


def config_dir() -> Any:
    """share/codediffuser/config, where file-name argument defaults and the rviz config live."""
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare

    return PathJoinSubstitution([FindPackageShare("codediffuser"), "config"])


def declare_arguments(arguments: Mapping[str, tuple[str, str]]) -> list[Any]:
    """A `DeclareLaunchArgument` per name → (default, description).

    A default ending in .yaml or .rviz names a file in `config_dir()`.
    """
    from launch.actions import DeclareLaunchArgument
    from launch.substitutions import PathJoinSubstitution

    declared = []
    for name, (default, description) in arguments.items():
        if default.endswith((".yaml", ".rviz")):
            default = PathJoinSubstitution([config_dir(), default])
        declared.append(DeclareLaunchArgument(name, default_value=default, description=description))
    return declared


def codediffuser_nodes(overrides: Mapping[str, dict[str, Any]] | None = None) -> list[Any]:
    """fusion_node, codegen_node and policy_node, each reading the `params_file` launch argument.

    `overrides`: node name → parameters applied on top of `params_file` (the simulator's, e.g.).
    """
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    overrides = overrides or {}
    return [
        Node(
            package=package,
            executable=node,
            name=node,
            output="screen",
            parameters=[
                LaunchConfiguration("params_file"),
                *([overrides[node]] if node in overrides else []),
            ],
        )
        for package, node in OUR_NODES
    ]


def rviz_node() -> Any:
    """rviz2 with config/attention.rviz, started when the `use_rviz` launch argument is true."""
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
    from launch_ros.actions import Node

    return Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", PathJoinSubstitution([config_dir(), "attention.rviz"])],
        condition=IfCondition(LaunchConfiguration("use_rviz")),
    )
