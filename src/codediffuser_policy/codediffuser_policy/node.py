"""policy_node: attention cloud + joint states → diffusion policy → safe joint commands at 50 Hz (DESIGN.md §6).

Services (std_srvs/Trigger, own callback group): `/policy/start` begins an episode (`policy.reset()`),
`/policy/stop` ends it (and acknowledges an e-stop), `/policy/estop` latches the safety layer's e-stop:
no command leaves the node until `/policy/stop` then `/policy/start`.

Each control tick (`safety.control_period_s`: 50 Hz on the ALOHA) while running: if the attention cloud
(`/codediffuser/attention_cloud`, stamped with its camera time) is older than `max_observation_age_s` or
an arm's joint states are older than `max_joint_state_age_s`, the node holds (publishes nothing, logs
why). Otherwise it executes the current plan: the policy's `ActionChunk` (one `predict_action` per
chunk, `observe` at the chunk's intermediate steps so the history stays consecutive), turned into joint
targets by IK from the measured joints, interpolated linearly in joint space between the chunk's
steps. Every command passes the safety layer (`codediffuser_policy.safety.SafetyLayer`, restarted from
the measured joints at each start) before it is published as `/follower_X/commands/joint_group` (group
"arm", six angles) and `.../joint_single` (joint "gripper", interbotix motor angle). A command the layer
rejects is not sent (the arms keep their last command) and the reason is logged; a chunk IK cannot
follow, or a start state outside the joint limits, stops the policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState, PointCloud2
from std_srvs.srv import Trigger

from codediffuser_perception import ros_conversions as conv
from codediffuser_perception.geometry import xyz_rot6d_to_pose
from codediffuser_perception.node import spin_until_shutdown
from codediffuser_perception.ros_params import ConfigError, declare_config
from codediffuser_perception.types import ARM_ACTION_DIM, ActionChunk, PerceptionError
from codediffuser_policy.kinematics import UnreachablePose, convert_gripper, joints_to_action, load_arm_model
from codediffuser_policy.safety import SafetyConfig, SafetyLayer, SafetyViolation

SIDES = ("left", "right")
ATTENTION_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
ARM_GROUP, GRIPPER_JOINT = "arm", "gripper"


@dataclass
class PolicyNodeConfig:
    """Parameters of policy_node.

    Attributes:
        checkpoint: policy checkpoint written by `codediffuser train` (`<run>/latest.pt`).
        device: torch device of the policy.
        use_ema: deploy the EMA weights (what training validates).
        seed: sampling seed of the diffusion policy.
        num_inference_steps: DDIM steps; 0 keeps the checkpoint's.
        n_action_steps: actions executed per prediction; 0 keeps the checkpoint's (see
            `checkpoint.load_policy`).
        max_observation_age_s: hold when the attention cloud is older than this, seconds.
        max_joint_state_age_s: hold when an arm's joint states are older than this, seconds.
        safety: limits every command must satisfy; its `control_period_s` is the command period.
    """

    checkpoint: str = ""
    device: str = "cpu"
    use_ema: bool = True
    seed: int = 0
    num_inference_steps: int = 0
    n_action_steps: int = 0
    max_observation_age_s: float = 0.5
    max_joint_state_age_s: float = 0.2
    safety: SafetyConfig = field(default_factory=SafetyConfig)

    def __post_init__(self) -> None:
        if not self.max_observation_age_s > 0 or not self.max_joint_state_age_s > 0:
            raise ConfigError(
                "max_observation_age_s and max_joint_state_age_s must be > 0, got "
                f"{self.max_observation_age_s}, {self.max_joint_state_age_s}"
            )
        if self.num_inference_steps < 0 or self.n_action_steps < 0:
            raise ConfigError(
                "num_inference_steps and n_action_steps must be >= 0, got "
                f"{self.num_inference_steps}, {self.n_action_steps}"
            )


@dataclass
class JointPlan:
    """Joint targets of one action chunk, reached at `start_s + (k + 1) · dt_s`, from `q0` at `start_s`.

    Attributes:
        start_s: plan start time, seconds (node clock).
        dt_s: time between targets.
        q0: (14,) measured joints at the start, per arm 6 angles (rad) + normalised gripper.
        targets: (T, 14) joint targets in the same layout.
    """

    start_s: float
    dt_s: float
    q0: np.ndarray
    targets: np.ndarray

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.targets) * self.dt_s

    def at(self, t_s: float) -> np.ndarray:
        """(14,) linearly interpolated target at time `t_s` (held at the ends)."""
        knots = np.concatenate([self.q0[None], self.targets])
        s = np.clip((t_s - self.start_s) / self.dt_s, 0.0, len(self.targets))
        k = min(int(s), len(self.targets) - 1)
        return knots[k] + (s - k) * (knots[k + 1] - knots[k])


def chunk_to_joints(models: dict[str, Any], chunk: ActionChunk, q_start: np.ndarray) -> np.ndarray:
    """(T, 14) joint targets of an action chunk by IK, each step seeded with the previous solution.

    Raises:
        UnreachablePose: a pose of the chunk has no IK solution within the joint limits.
    """
    targets = np.empty((len(chunk.actions), 14))
    seed = q_start.copy()
    for k, action in enumerate(chunk.actions):
        for i, side in enumerate(SIDES):
            a = action[i * ARM_ACTION_DIM : (i + 1) * ARM_ACTION_DIM]
            seed[7 * i : 7 * i + 6] = models[side].ik(xyz_rot6d_to_pose(a), q0=seed[7 * i : 7 * i + 6])
            seed[7 * i + 6] = float(np.clip(a[9], 0.0, 1.0))
        targets[k] = seed
    return targets


class PolicyNode(Node):
    """Observation caches, the three services and the control timer."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__("policy_node", **node_options)
        self.config = declare_config(self, PolicyNodeConfig)
        cfg = self.config
        from codediffuser_policy.checkpoint import load_policy

        if not cfg.checkpoint:
            raise ConfigError("checkpoint is required: the `<run>/latest.pt` of `codediffuser train`")
        self.policy = load_policy(
            cfg.checkpoint,
            use_ema=cfg.use_ema,
            device=cfg.device,
            seed=cfg.seed,
            n_action_steps=cfg.n_action_steps or None,
            num_inference_steps=cfg.num_inference_steps or None,
        )
        self.models = {side: load_arm_model(side) for side in SIDES}
        self.safety = SafetyLayer(cfg.safety, self.models)
        self.state = "idle"  # idle | running | estopped
        self.safety_started = False  # the layer has the measured joints of this run
        self.plan: JointPlan | None = None
        self.next_observe_s = np.inf
        self.cloud: tuple[float, np.ndarray, np.ndarray] | None = None  # stamp, points, attention
        self.joints: dict[str, tuple[float, np.ndarray]] = {}  # side → receive time, (7,) joints
        self.hold_reason = ""
        self.create_subscription(PointCloud2, "/codediffuser/attention_cloud", self.on_cloud, ATTENTION_QOS)
        self.group_pubs, self.single_pubs = {}, {}
        for side in SIDES:
            self.create_subscription(
                JointState, f"/follower_{side}/joint_states", self._joints_callback(side), 10
            )
            self.group_pubs[side] = self.create_publisher(
                JointGroupCommand, f"/follower_{side}/commands/joint_group", 10
            )
            self.single_pubs[side] = self.create_publisher(
                JointSingleCommand, f"/follower_{side}/commands/joint_single", 10
            )
        services = MutuallyExclusiveCallbackGroup()
        for name, callback in (("start", self.on_start), ("stop", self.on_stop), ("estop", self.on_estop)):
            self.create_service(Trigger, f"/policy/{name}", callback, callback_group=services)
        self.create_timer(self.safety.config.control_period_s, self.control_step)
        self.get_logger().info(f"policy {cfg.checkpoint} loaded; call /policy/start")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- inputs -----------------------------------------------------------------------------------
    def on_cloud(self, msg: PointCloud2) -> None:
        try:
            points, _, extras = conv.cloud_to_points(msg)
            if "attention" not in extras:
                raise PerceptionError("the attention cloud has no 'attention' field")
        except PerceptionError as exc:
            self.get_logger().error(f"unusable attention cloud: {exc}")
            return
        self.cloud = (conv.stamp_to_seconds(msg.header.stamp), points, extras["attention"].astype(np.float32))

    def _joints_callback(self, side: str):
        names = self.models[side].joint_names

        def callback(msg: JointState) -> None:
            try:
                positions = conv.joint_state_to_dict(msg)
                q = [positions[j] for j in names]
                gripper = float(convert_gripper(positions[GRIPPER_JOINT], "motor_rad", "normalized"))
            except (KeyError, ValueError) as exc:
                self.get_logger().error(f"unusable /follower_{side}/joint_states: missing or bad {exc}")
                return
            self.joints[side] = (self._now(), np.array([*q, gripper]))

        return callback

    # --- services ---------------------------------------------------------------------------------
    def on_start(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.state == "estopped":
            response.success, response.message = (
                False,
                "e-stop latched: call /policy/stop to acknowledge it first",
            )
        else:
            self.policy.reset()
            self.state, self.plan, self.hold_reason, self.safety_started = "running", None, "", False
            response.success, response.message = True, "policy running"
        return response

    def on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        acknowledged = " (e-stop acknowledged)" if self.state == "estopped" else ""
        self.state, self.plan = "idle", None
        response.success, response.message = True, f"policy stopped{acknowledged}"
        return response

    def on_estop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.safety.estop()
        self.state, self.plan = "estopped", None
        self.get_logger().error("E-STOP: no command is sent until /policy/stop and /policy/start")
        response.success, response.message = True, "e-stop latched"
        return response

    # --- control ----------------------------------------------------------------------------------
    def stale_reason(self, now: float) -> str:
        """Why the observation cannot be acted on now ("" when it can)."""
        if self.cloud is None:
            return "no attention cloud yet (call /instruct)"
        if now - self.cloud[0] > self.config.max_observation_age_s:
            return f"attention cloud is {now - self.cloud[0]:.2f} s old (max {self.config.max_observation_age_s} s)"
        for side in SIDES:
            if side not in self.joints or now - self.joints[side][0] > self.config.max_joint_state_age_s:
                return f"no fresh /follower_{side}/joint_states"
        return ""

    def observation(self, q: np.ndarray) -> dict[str, np.ndarray]:
        _, points, attention = self.cloud
        return {"point_cloud": points, "attention": attention, "agent_pos": joints_to_action(self.models, q)}

    def control_step(self) -> None:
        if self.state != "running":
            return
        now = self._now()
        reason = self.stale_reason(now)
        if reason:
            if reason != self.hold_reason:
                self.get_logger().error(f"holding, no command: {reason}")
            self.hold_reason, self.plan = reason, None
            return
        self.hold_reason = ""
        q = np.concatenate([self.joints[side][1] for side in SIDES])
        try:
            if not self.safety_started:  # velocity limits start from the measured joints of this run
                (self.safety.reset_estop if self.safety.estopped else self.safety.start)(q)
                self.safety_started = True
            if self.plan is None or now >= self.plan.end_s:
                chunk = self.policy.predict_action(self.observation(q))
                self.plan = JointPlan(now, chunk.dt_s, q, chunk_to_joints(self.models, chunk, q))
                self.next_observe_s = now + chunk.dt_s
            elif now >= self.next_observe_s:
                self.policy.observe(self.observation(q))
                self.next_observe_s += self.plan.dt_s
        except (UnreachablePose, SafetyViolation, PerceptionError, ValueError) as exc:
            self.state, self.plan = "idle", None
            self.get_logger().error(f"policy stopped, no command sent: {type(exc).__name__}: {exc}")
            return
        try:
            command = self.safety.check(self.plan.at(now), q)
        except SafetyViolation as exc:
            self.get_logger().error(
                f"command rejected by the safety layer, holding: {exc}", throttle_duration_sec=1.0
            )
            return
        self.publish(command)

    def publish(self, command: np.ndarray) -> None:
        for i, side in enumerate(SIDES):
            arm = [float(v) for v in command[7 * i : 7 * i + 6]]
            self.group_pubs[side].publish(JointGroupCommand(name=ARM_GROUP, cmd=arm))
            motor = float(convert_gripper(command[7 * i + 6], "normalized", "motor_rad"))
            self.single_pubs[side].publish(JointSingleCommand(name=GRIPPER_JOINT, cmd=motor))


def main(args: list[str] | None = None) -> None:
    """`ros2 run codediffuser_policy policy_node`."""
    rclpy.init(args=args)
    try:
        node = PolicyNode()
    except (ValueError, RuntimeError, OSError) as exc:  # ConfigError, CheckpointError, missing files
        rclpy.logging.get_logger("policy_node").fatal(f"cannot start: {exc}")
        rclpy.try_shutdown()
        raise SystemExit(2) from exc
    spin_until_shutdown(node, MultiThreadedExecutor())
