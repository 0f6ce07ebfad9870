"""Sample launch file for the launch stand-in tests (uses the API the real launch files use)."""

from launch.actions import (
    DeclareLaunchArgument,
    GroupAction,
    IncludeLaunchDescription,
    LogInfo,
    OpaqueFunction,
    SetLaunchConfiguration,
    TimerAction,
)
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import (
    EnvironmentVariable,
    LaunchConfiguration,
    PathJoinSubstitution,
    PythonExpression,
    TextSubstitution,
    ThisLaunchFileDir,
)
from launch_ros.actions import Node, PushRosNamespace, SetParameter, SetRemap
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def _cameras(context):
    count = int(LaunchConfiguration("cameras").perform(context))
    return [
        Node(package="driver", executable="camera_node", name=f"cam{i}", namespace="cameras")
        for i in range(count)
    ]


def generate_launch_description():
    share = FindPackageShare("harness_pkg")
    params = PathJoinSubstitution([share, "harness_sample_params.yaml"])
    return LaunchDescription(
        [
            DeclareLaunchArgument("robot", description="robot name (required)"),
            DeclareLaunchArgument(
                "mode", default_value="sim", choices=["sim", "real"], description="backend"
            ),
            DeclareLaunchArgument("cameras", default_value="2", description="number of cameras"),
            DeclareLaunchArgument("use_rviz", default_value="false", description="start rviz2"),
            Node(
                package="codediffuser_perception",
                executable="fusion_node",
                name="fusion",
                parameters=[
                    params,
                    {
                        "voxel_size_m": LaunchConfiguration("voxel", default="0.02"),
                        "robot": LaunchConfiguration("robot"),
                    },
                ],
                remappings=[
                    ("image", [TextSubstitution(text="/cameras/"), LaunchConfiguration("robot"), "/image"])
                ],
            ),
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                condition=IfCondition(LaunchConfiguration("use_rviz")),
            ),
            Node(
                package="tools",
                executable="headless_monitor",
                condition=UnlessCondition(LaunchConfiguration("use_rviz")),
            ),
            OpaqueFunction(function=_cameras),
            GroupAction(
                [
                    PushRosNamespace(LaunchConfiguration("robot")),
                    SetRemap("/joint_states", "joint_states"),
                    SetParameter(name="robot_name", value=LaunchConfiguration("robot")),
                    SetLaunchConfiguration("side", "right"),
                    LogInfo(
                        msg=[
                            "starting ",
                            LaunchConfiguration("side"),
                            " arm of ",
                            LaunchConfiguration("robot"),
                        ]
                    ),
                    IncludeLaunchDescription(
                        PythonLaunchDescriptionSource(
                            PathJoinSubstitution([ThisLaunchFileDir(), "harness_sample_inner.launch.py"])
                        ),
                        launch_arguments={"side": LaunchConfiguration("side")}.items(),
                    ),
                ],
                condition=IfCondition(PythonExpression(["'", LaunchConfiguration("mode"), "' == 'sim'"])),
            ),
            TimerAction(
                period=2.0,
                actions=[
                    Node(
                        package="tools",
                        executable="recorder",
                        name="recorder",
                        parameters=[{"home": EnvironmentVariable("HARNESS_HOME", default_value="/tmp")}],
                    )
                ],
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution(
                        [FindPackageShare("interbotix_xsarm_control"), "launch", "xsarm_control.launch.py"]
                    )
                ),
                launch_arguments=[("robot_name", LaunchConfiguration("robot"))],
            ),
        ]
    )
