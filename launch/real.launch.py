"""The codediffuser graph on the real ALOHA: 4 RealSense cameras, 2 follower arms, our 3 nodes (+ rviz2).

    ros2 launch codediffuser real.launch.py [cameras_config:=/path/cameras.yaml] [use_rviz:=false]

- Cameras: one `realsense2_camera_node` per entry of the rig file (config/cameras.yaml, written by
  `codediffuser calibrate`), namespace `cameras`, node and camera name `camN` (topics
  `/cameras/camN/color/image_raw`, `.../aligned_depth_to_color/image_raw`, frames
  `camN_color_optical_frame`), opened by serial, depth aligned to colour, colour and depth synchronised.
  The driver's own TF is off: `world → camN_color_optical_frame` comes from the calibration
  (`T_world_cam`), published by one static transform publisher per camera.
- Arms: interbotix `xsarm_control.launch.py` once per follower (`follower_left`, `follower_right`;
  namespaces of the command and joint_states topics), with the ALOHA follower mode files of the
  Interbotix `aloha` package (arm group in position mode, gripper in current-based position mode;
  `follower_modes_left|right` arguments). Their URDF's own `world` link is off: `world →
  follower_X/base_link` comes from the robot model the policy plans in
  (`codediffuser_policy.kinematics`), so TF, calibration and actions share one frame.
- codediffuser: fusion_node, codegen_node, policy_node with `params_file` (config/nodes.yaml).

The leader arms are not started: the policy drives the followers. Use the Interbotix `aloha` bring-up
for teleoperation when recording demonstrations.
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from codediffuser.launch_common import codediffuser_nodes, declare_arguments, rviz_node
from launch import LaunchDescription

SIDES = ("left", "right")
ARGUMENTS = {
    "params_file": ("nodes.yaml", "ROS 2 parameter file of the codediffuser nodes"),
    "cameras_config": ("cameras.yaml", "camera rig file: serials, intrinsics, T_world_cam per camera"),
    "robot_model": ("aloha_vx300s", "interbotix model of the follower arms (vx300s on older kits)"),
    "use_cameras": ("true", "start the RealSense drivers"),
    "use_arms": ("true", "start the interbotix follower arm drivers"),
    "use_rviz": ("true", "start rviz2 with config/attention.rviz"),
}
"""Launch arguments: name → (default, description); file names are resolved in share/codediffuser/config."""

COLOR_FPS = 30
"""Camera frame rate: RealSense colour and depth profiles run at the same rate so that sync works."""


def _transform_arguments(T, parent: str, child: str) -> list[str]:
    """tf2_ros static_transform_publisher arguments for the 4×4 pose `T` of `child` in `parent`."""
    from scipy.spatial.transform import Rotation

    x, y, z = (f"{v:.6f}" for v in T[:3, 3])
    qx, qy, qz, qw = (f"{v:.9f}" for v in Rotation.from_matrix(T[:3, :3]).as_quat())
    return [
        *("--x", x, "--y", y, "--z", z),
        *("--qx", qx, "--qy", qy, "--qz", qz, "--qw", qw),
        *("--frame-id", parent, "--child-frame-id", child),
    ]


def _cameras(context) -> list:
    """A RealSense driver and a static transform publisher per camera of the rig file."""
    from codediffuser.calibration_config import CalibrationError, load_cameras_config

    path = LaunchConfiguration("cameras_config").perform(context)
    rig = load_cameras_config(path)
    missing = [c.name for c in rig.cameras.values() if c.serial is None]
    if missing:
        raise CalibrationError(f"{path}: cameras {missing} have no serial: set them before launching")
    actions = []
    for camera in rig.cameras.values():
        profile = f"{camera.width},{camera.height},{COLOR_FPS}"
        actions.append(
            Node(
                package="realsense2_camera",
                executable="realsense2_camera_node",
                namespace="cameras",
                name=camera.name,
                output="screen",
                parameters=[
                    {
                        "camera_name": camera.name,
                        # realsense2_camera strips a leading "_"; it keeps a numeric serial a string.
                        "serial_no": f"_{camera.serial}",
                        "initial_reset": True,
                        "enable_color": True,
                        "enable_depth": True,
                        "align_depth.enable": True,
                        "enable_sync": True,
                        "publish_tf": False,
                        "rgb_camera.color_profile": profile,
                        "depth_module.depth_profile": profile,
                    }
                ],
            )
        )
        actions.append(
            Node(
                package="tf2_ros",
                executable="static_transform_publisher",
                name=f"{camera.name}_calibration_tf",
                arguments=_transform_arguments(
                    camera.T_world_cam, rig.frame_id, f"{camera.name}_color_optical_frame"
                ),
            )
        )
    return actions


def _arms(context) -> list:
    """The two follower arm drivers and their base frames in the world."""
    from codediffuser_policy.kinematics import load_arm_model

    actions = []
    for side in SIDES:
        robot_name = f"follower_{side}"
        actions.append(
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution(
                        [FindPackageShare("interbotix_xsarm_control"), "launch", "xsarm_control.launch.py"]
                    )
                ),
                launch_arguments={
                    "robot_model": LaunchConfiguration("robot_model"),
                    "robot_name": robot_name,
                    "mode_configs": LaunchConfiguration(f"follower_modes_{side}"),
                    "use_world_frame": "false",
                    "use_rviz": "false",
                }.items(),
            )
        )
        actions.append(
            Node(
                package="tf2_ros",
                executable="static_transform_publisher",
                name=f"{robot_name}_base_tf",
                arguments=_transform_arguments(
                    load_arm_model(side).base_pose, "world", f"{robot_name}/base_link"
                ),
            )
        )
    return actions


def _hardware(context) -> list:
    use = {
        name: LaunchConfiguration(name).perform(context).lower() == "true"
        for name in ("use_cameras", "use_arms")
    }
    return [*(_cameras(context) if use["use_cameras"] else []), *(_arms(context) if use["use_arms"] else [])]


def generate_launch_description() -> LaunchDescription:
    declared = declare_arguments(ARGUMENTS)
    for side in SIDES:
        declared.append(
            DeclareLaunchArgument(
                f"follower_modes_{side}",
                default_value=PathJoinSubstitution(
                    [FindPackageShare("aloha"), "config", f"follower_modes_{side}.yaml"]
                ),
                description=f"interbotix mode config of follower_{side}: arm group 'position', gripper "
                "'current_based_position' (the Interbotix aloha package's file by default)",
            )
        )
    return LaunchDescription(
        [*declared, OpaqueFunction(function=_hardware), *codediffuser_nodes(), rviz_node()]
    )
