"""Included by harness_sample.launch.py."""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument("side", description="arm side"),
            Node(
                package="codediffuser_policy",
                executable="policy_node",
                name="policy",
                parameters=[
                    {
                        "side": LaunchConfiguration("side"),
                        "gains": {"kp": 1.5, "kd": 0.1},
                        "limits": [1, 2.5],
                        "label": "007",
                    }
                ],
            ),
        ]
    )
