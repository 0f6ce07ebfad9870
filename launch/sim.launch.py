"""The codediffuser graph on the simulated ALOHA: SAPIEN bridge + fusion, codegen and policy nodes (+ rviz2).

    ros2 launch codediffuser sim.launch.py task:=pack_battery level:=none seed:=0

The bridge publishes what the real rig would (four RealSense-style camera topic sets, static TF of the
camera optical frames and arm bases, follower joint states) and executes the interbotix command topics,
so the three codediffuser nodes run unchanged (a robot_state_publisher per arm gives rviz2 the arms); only the camera rig file differs (`cameras_sim.yaml`, read by the
bridge to place its cameras). Every node reads its parameters from `params_file` (config/nodes.yaml).
"""

from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from codediffuser.launch_common import codediffuser_nodes, declare_arguments, rviz_node
from launch import LaunchDescription

ARGUMENTS = {
    "params_file": ("nodes.yaml", "ROS 2 parameter file of the codediffuser nodes"),
    "cameras_config": ("cameras_sim.yaml", "simulated camera rig (poses, image size) used by the bridge"),
    "task": ("pack_battery", "simulated task: pack_battery | hang_mug | stow_books"),
    "level": ("none", "instruction ambiguity level of the initial episode: none | object | target | both"),
    "seed": ("0", "seed of the initial episode layout"),
    "use_rviz": ("true", "start rviz2 with config/attention.rviz"),
}
"""Launch arguments: name → (default, description); file names are resolved in share/codediffuser/config."""
SIM_OVERRIDES = {
    "fusion_node": {"use_segmentation": True, "feature_backend": "none"},
    "codegen_node": {"detector": "metadata", "mask_backend": "none"},
}
"""Simulator-only parameters on top of `params_file` (which holds the real rig's values): the segmentation
oracle replaces DINOv2 features and the metadata backends replace detection (DESIGN.md §5)."""


def robot_description(side: str) -> str:
    """The URDF of one simulated arm (the policy's robot model), meshes as file:// URIs for rviz2."""
    from codediffuser_policy.kinematics import arm_urdf_path

    return arm_urdf_path(side).read_text().replace('filename="/', 'filename="file:///')


def generate_launch_description() -> LaunchDescription:
    declared = declare_arguments(ARGUMENTS)
    params_file = LaunchConfiguration("params_file")
    bridge = Node(
        package="codediffuser_sim",
        executable="sim_bridge_node",
        name="sim_bridge_node",
        output="screen",
        parameters=[
            params_file,
            {
                "cameras_config": LaunchConfiguration("cameras_config"),
                "task": LaunchConfiguration("task"),
                "level": LaunchConfiguration("level"),
                "seed": LaunchConfiguration("seed"),
            },
        ],
    )
    # What the interbotix bring-up does on the real robot: one robot_state_publisher per arm, so rviz2
    # shows the arms (`/follower_X/robot_description`, TF `follower_X/<link>` from the bridge's joint states).
    arm_states = [
        Node(
            package="robot_state_publisher",
            executable="robot_state_publisher",
            namespace=f"follower_{side}",
            name="robot_state_publisher",
            parameters=[{"robot_description": robot_description(side), "frame_prefix": f"follower_{side}/"}],
        )
        for side in ("left", "right")
    ]
    return LaunchDescription(
        [*declared, bridge, *codediffuser_nodes(SIM_OVERRIDES), *arm_states, rviz_node()]
    )
