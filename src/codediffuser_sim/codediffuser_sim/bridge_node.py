"""sim_bridge_node: the SAPIEN ALOHA behind the topics of the real rig (DESIGN.md §6).

It publishes what four `realsense2_camera` drivers and two interbotix follower arms would:
`/cameras/camN/color/image_raw` (rgb8), `.../aligned_depth_to_color/image_raw` (16UC1, mm),
`.../color/camera_info`, static TF `world → camN_color_optical_frame` and `world → follower_X/base_link`,
`/follower_X/joint_states` (six arm joints in rad, `gripper` as the interbotix motor angle, the two
finger positions in m), and executes `/follower_X/commands/joint_group` (group "arm", six angles) and
`/follower_X/commands/joint_single` (joint "gripper", motor angle). Simulator-only extras: per-camera
`.../segmentation/image_raw` (32SC1 instance ids, the documented oracle of DESIGN.md §5),
`/sim/objects` (JSON instance metadata, latched) and `/sim/instruction` (the episode's instruction).

`/sim/reset` (std_srvs/Trigger) starts the episode named by the parameters `task`, `level`, `seed`
(`ros2 param set` them first). A command outside the joint limits, of the wrong group or length, or
with NaN is logged and ignored: the arm keeps its last valid target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage

from codediffuser_perception import ros_conversions as conv
from codediffuser_perception.node import spin_until_shutdown
from codediffuser_perception.ros_params import ConfigError, declare_config
from codediffuser_policy.kinematics import convert_gripper
from codediffuser_sim.cameras import CameraRig
from codediffuser_sim.env import SIDES, SimConfig, SimError, make_env

LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
TF_STATIC_QOS = QoSProfile(
    depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
ARM_GROUP = "arm"
GRIPPER_JOINT = "gripper"


@dataclass
class SimBridgeConfig:
    """Parameters of sim_bridge_node.

    Attributes:
        task: simulated task of the episode started by `/sim/reset` (and at start-up).
        level: instruction ambiguity level of that episode.
        seed: layout seed of that episode.
        cameras_config: camera rig YAML (`cameras:` list); empty = config/cameras_sim.yaml.
        width, height: rendered image size in pixels.
        control_hz: simulation steps per second (each one applies the latest arm targets).
        physics_hz: physics steps per second (a multiple of control_hz).
        render_every: publish the cameras every this many control steps.
        publish_segmentation: publish the per-camera segmentation images (simulator oracle).
    """

    task: str = "pack_battery"
    level: str = "none"
    seed: int = 0
    cameras_config: str = ""
    width: int = 160
    height: int = 120
    control_hz: float = 10.0
    physics_hz: float = 500.0
    render_every: int = 1
    publish_segmentation: bool = True

    def __post_init__(self) -> None:
        if self.render_every < 1:
            raise ConfigError(f"render_every must be >= 1, got {self.render_every}")


def finger_positions(gripper_normalized: float) -> tuple[float, float]:
    """(left, right) finger joint positions in metres of a normalised gripper opening (right mirrors left)."""
    left = float(convert_gripper(gripper_normalized, "normalized", "finger_m"))
    return left, -left


class SimBridgeNode(Node):
    """Owns the `TaskEnv`; a control-rate timer steps it and publishes the sensor topics."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__("sim_bridge_node", **node_options)
        self.config = declare_config(self, SimBridgeConfig)
        cfg = self.config
        # The bridge mounts its own cameras and renders only the steps it publishes (a lavapipe picture
        # costs ≈ 0.3–0.6 s on CPU); the environment itself runs without rendering.
        self.sim_config = SimConfig(
            physics_hz=cfg.physics_hz,
            control_hz=cfg.control_hz,
            render=False,
            camera_config=cfg.cameras_config or None,
            width=cfg.width,
            height=cfg.height,
        )
        self.env = make_env(cfg.task, self.sim_config)
        self.cameras = CameraRig(self.env.scene, self.env.camera_specs())
        self.camera_names = [spec.name for spec in self.cameras.specs]
        self.image_pubs = {
            (cam, kind): self.create_publisher(Image, f"/cameras/{cam}/{topic}", qos_profile_sensor_data)
            for cam in self.camera_names
            for kind, topic in (
                ("color", "color/image_raw"),
                ("depth", "aligned_depth_to_color/image_raw"),
                ("segmentation", "segmentation/image_raw"),
            )
        }
        self.info_pubs = {
            cam: self.create_publisher(
                CameraInfo, f"/cameras/{cam}/color/camera_info", qos_profile_sensor_data
            )
            for cam in self.camera_names
        }
        self.joint_pubs = {
            side: self.create_publisher(JointState, f"/follower_{side}/joint_states", 10) for side in SIDES
        }
        self.tf_pub = self.create_publisher(TFMessage, "/tf_static", TF_STATIC_QOS)
        self.objects_pub = self.create_publisher(String, "/sim/objects", LATCHED)
        self.instruction_pub = self.create_publisher(String, "/sim/instruction", LATCHED)
        for side in SIDES:
            self.create_subscription(
                JointGroupCommand, f"/follower_{side}/commands/joint_group", self._group_callback(side), 10
            )
            self.create_subscription(
                JointSingleCommand, f"/follower_{side}/commands/joint_single", self._single_callback(side), 10
            )
        self.create_service(Trigger, "/sim/reset", self.on_reset)
        self.start_episode(cfg.task, cfg.level, cfg.seed)
        self.create_timer(1.0 / cfg.control_hz, self.step)

    # --- episode ---------------------------------------------------------------------------------
    def start_episode(self, task: str, level: str, seed: int) -> str:
        """Reset the simulator (rebuilding it for another task) and publish the episode's latched topics."""
        if task != self.env.name:
            self.env = make_env(task, self.sim_config)
            self.cameras = CameraRig(self.env.scene, self.env.camera_specs())
        obs = self.env.reset(seed, level)
        self.command = obs.joint_pos.astype(np.float64)
        self.publish_static_tf()
        objects = {
            str(o.id): {"category": o.category, "name": o.name, **dict(o.attributes)}
            for o in self.env.objects
        }
        self.objects_pub.publish(String(data=json.dumps(objects, sort_keys=True)))
        self.instruction_pub.publish(String(data=self.env.instruction.text))
        self.publish_observation(obs, render=True)
        self.get_logger().info(f"episode {task}/{level}/seed {seed}: {self.env.instruction.text!r}")
        return self.env.instruction.text

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        task = self.get_parameter("task").value
        level = self.get_parameter("level").value
        seed = self.get_parameter("seed").value
        try:
            response.message = self.start_episode(task, level, seed)
            response.success = True
        except SimError as exc:
            response.success, response.message = False, str(exc)
            self.get_logger().error(f"/sim/reset refused: {exc}")
        return response

    def publish_static_tf(self) -> None:
        stamp = self.get_clock().now().to_msg()
        transforms = [
            conv.matrix_to_transform_stamped(
                spec.T_world_optical(), "world", f"{spec.name}_color_optical_frame", stamp
            )
            for spec in self.cameras.specs
        ] + [
            conv.matrix_to_transform_stamped(
                arm.model.base_pose, "world", f"follower_{side}/base_link", stamp
            )
            for side, arm in self.env.arms.items()
        ]
        self.tf_pub.publish(TFMessage(transforms=transforms))

    # --- commands --------------------------------------------------------------------------------
    def _try_command(self, side: str, index: slice, values: np.ndarray, what: str) -> None:
        candidate = self.command.copy()
        candidate[index] = values
        try:
            self.command = self.env.validate_command(candidate)
        except SimError as exc:
            self.get_logger().error(f"ignored {what} for follower_{side}: {exc}")

    def _group_callback(self, side: str):
        i = SIDES.index(side)

        def callback(msg: JointGroupCommand) -> None:
            if msg.name != ARM_GROUP or len(msg.cmd) != 6:
                self.get_logger().error(
                    f"ignored joint_group for follower_{side}: need group {ARM_GROUP!r} with 6 commands, "
                    f"got {msg.name!r} with {len(msg.cmd)}"
                )
                return
            self._try_command(
                side, slice(7 * i, 7 * i + 6), np.asarray(msg.cmd, dtype=np.float64), "joint_group"
            )

        return callback

    def _single_callback(self, side: str):
        i = SIDES.index(side)

        def callback(msg: JointSingleCommand) -> None:
            if msg.name != GRIPPER_JOINT:
                self.get_logger().error(
                    f"ignored joint_single for follower_{side}: unknown joint {msg.name!r}"
                )
                return
            normalized = float(convert_gripper(float(msg.cmd), "motor_rad", "normalized"))
            self._try_command(side, slice(7 * i + 6, 7 * i + 7), np.array([normalized]), "joint_single")

        return callback

    # --- simulation loop -------------------------------------------------------------------------
    def step(self) -> None:
        obs = self.env.step(self.command)
        self.publish_observation(obs, render=self.env.elapsed_steps % self.config.render_every == 0)

    def publish_observation(self, obs: Any, render: bool) -> None:
        stamp = self.get_clock().now().to_msg()
        for i, side in enumerate(SIDES):
            q = obs.joint_pos[7 * i : 7 * i + 7].astype(np.float64)
            left, right = finger_positions(q[6])
            self.joint_pubs[side].publish(
                JointState(
                    header=conv.header(stamp, ""),
                    name=[
                        *self.env.arms[side].model.joint_names,
                        GRIPPER_JOINT,
                        "left_finger",
                        "right_finger",
                    ],
                    position=[
                        *q[:6].tolist(),
                        float(convert_gripper(q[6], "normalized", "motor_rad")),
                        left,
                        right,
                    ],
                )
            )
        if not render:
            return
        for view in self.cameras.capture(self.env.id_map(), stamp=obs.time_s):
            frame = f"{view.name}_color_optical_frame"
            # camera_info first, as the RealSense driver does: a subscriber has K before the image
            self.info_pubs[view.name].publish(
                conv.K_to_camera_info(view.K, view.width, view.height, frame, stamp)
            )
            self.image_pubs[(view.name, "color")].publish(conv.rgb_to_image(view.rgb, frame, stamp))
            self.image_pubs[(view.name, "depth")].publish(conv.depth_m_to_image(view.depth, frame, stamp))
            if self.config.publish_segmentation and view.segmentation is not None:
                self.image_pubs[(view.name, "segmentation")].publish(
                    conv.labels_to_image(view.segmentation, frame, stamp)
                )


def main(args: list[str] | None = None) -> None:
    """`ros2 run codediffuser_sim sim_bridge_node`."""
    rclpy.init(args=args)
    try:
        node = SimBridgeNode()
    except (ConfigError, SimError) as exc:
        rclpy.logging.get_logger("sim_bridge_node").fatal(f"cannot start: {exc}")
        rclpy.try_shutdown()
        raise SystemExit(2) from exc
    spin_until_shutdown(node)
