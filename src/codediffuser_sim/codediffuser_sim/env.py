"""The bimanual ALOHA environment every task fills in: scene, arms, cameras, seeded episodes, joint commands.

A task subclasses `TaskEnv` and registers by name (`@register_task("pack_battery")`); it supplies a pure
layout sampler (`sample_layout(seed) -> list[SceneObject]`, no SAPIEN), builds actors for that layout, and
evaluates success. The base class owns everything else: the table, both arms, the cameras, physics at
`physics_hz` with the drive targets interpolated over each control period (`control_hz`), gravity
compensation, and the instruction of the episode.

Commands are joint positions, the real ALOHA interface (DESIGN.md §6): a (14,) vector, per arm (left then
right) six joint angles in rad and a normalised gripper [0 closed, 1 open]. The policy's end-effector
actions become commands through `codediffuser_policy.kinematics` (see `ee_action_to_command`).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import sapien

from codediffuser_perception.geometry import xyz_rot6d_to_pose
from codediffuser_perception.types import ARM_ACTION_DIM, CameraView
from codediffuser_policy.kinematics import ArmModel, convert_gripper, joints_to_action
from codediffuser_sim.cameras import CameraRig, CameraSpec, load_camera_specs
from codediffuser_sim.instructions import LEVELS, Instruction, SceneObject, generate_instruction
from codediffuser_sim.layout import LayoutError
from codediffuser_sim.robot import SimArm, load_arm

SIDES = ("left", "right")
COMMAND_DIM = 14
"""Per arm six joint angles (rad) + normalised gripper, left arm first."""
TABLE_HALF_SIZE = (0.6, 0.4, 0.02)
"""Table top extent (metres, half sizes); its top surface is the world z = 0 plane."""
TABLE_COLOR = (0.55, 0.45, 0.35, 1.0)
OBJECT_FRICTION = 1.0
"""Static/dynamic friction of task objects and fingers' partners: grasps hold through contacts only."""
JOINT_LIMIT_TOLERANCE_RAD = 1e-6


def default_camera_config() -> Path:
    """config/cameras_sim.yaml of the source checkout (the ROS install ships it in share/codediffuser)."""
    return Path(__file__).resolve().parents[3] / "config" / "cameras_sim.yaml"


class SimError(ValueError):
    """Bad simulator input: unknown task or level, a malformed command, an impossible seed."""


@dataclass
class SimConfig:
    """How the simulator runs.

    Attributes:
        physics_hz: physics steps per second.
        control_hz: commands per second; drive targets are interpolated linearly in between (the real
            robot runs 50 Hz; 10 Hz keeps CPU demos cheap).
        render: mount the cameras and return views in observations.
        camera_config: YAML with the camera poses (`cameras:` list); None = config/cameras_sim.yaml.
        width, height: override every camera's image size (None keeps the YAML's).
    """

    physics_hz: float = 500.0
    control_hz: float = 10.0
    render: bool = True
    camera_config: Path | None = None
    width: int | None = 160
    height: int | None = 120

    def __post_init__(self) -> None:
        if not self.physics_hz > 0 or not self.control_hz > 0:
            raise SimError(f"physics_hz and control_hz must be > 0, got {self.physics_hz}, {self.control_hz}")
        ratio = self.physics_hz / self.control_hz
        if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
            raise SimError(
                f"physics_hz must be a multiple of control_hz, got {self.physics_hz} / {self.control_hz}"
            )

    @property
    def substeps(self) -> int:
        return round(self.physics_hz / self.control_hz)


@dataclass
class Observation:
    """What the robot sees and feels at one control step.

    Attributes:
        views: the RGB-D views (empty when rendering is off); segmentation holds `SceneObject.id`s.
        joint_pos: (14,) float32 measured joints, the command layout.
        ee_pose: (20,) float32 per arm [xyz (base frame, m), rot6d, gripper], the action layout.
        time_s: simulated time since reset.
    """

    views: list[CameraView]
    joint_pos: np.ndarray
    ee_pose: np.ndarray
    time_s: float


@dataclass
class SimState:
    """Everything that evolves within an episode (for `TaskEnv.get_state` / `set_state`).

    Attributes:
        qpos, qvel: per arm side the articulation's joint positions / velocities (SAPIEN order).
        command: (14,) the last command.
        poses: per instance id the (4, 4) world pose of its actor.
        velocities: per dynamic instance id its (6,) linear + angular velocity.
        steps: control steps since reset.
    """

    qpos: dict[str, np.ndarray]
    qvel: dict[str, np.ndarray]
    command: np.ndarray
    poses: dict[int, np.ndarray]
    velocities: dict[int, np.ndarray]
    steps: int


@dataclass
class Primitive:
    """One collision + visual shape of an actor, in the actor frame.

    Attributes:
        kind: "box" (size = half extents), "cylinder" or "capsule" (size = (radius, half_length), axis x).
        size: see `kind`, metres.
        pose: (4, 4) shape pose in the actor frame.
    """

    kind: str
    size: tuple[float, ...]
    pose: np.ndarray = field(default_factory=lambda: np.eye(4))


class TaskEnv(ABC):
    """Base of every task: one scene reused across episodes, task actors rebuilt on each reset."""

    name: ClassVar[str] = ""
    max_duration_s: ClassVar[float] = 12.0
    """Simulated time after which an episode is over (the expert needs less)."""
    crop_top_m: ClassVar[float | None] = None
    """Top (world z, m) of the crop box the policy sees, when the task needs less than the recording's:
    the highest a task object reaches in a demonstration plus a margin. Above it the cameras see only the
    arms, whose pose the policy already has from proprioception, so cutting them leaves the sampled
    points on the scene. None keeps the `RecordConfig` box."""
    grasp_in_object: ClassVar[tuple[float, float, float]] = (0.0, 0.0, 0.0)
    """Where the expert's tool centre point holds an object, in the object's frame (m): the point from
    which the evaluation measures a gripper's reach and hold (`grasp_point`)."""
    mirror_symmetric: ClassVar[bool] = True
    """Whether the mirror image of a layout (x ↦ −x) is a layout the task can produce, so that mirrored
    demonstrations (`codediffuser_policy.augment`, training's `mirror`) show scenes that occur."""

    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self.scene = sapien.Scene()
        self.scene.set_timestep(1.0 / self.config.physics_hz)
        self.scene.set_ambient_light([0.45, 0.45, 0.45])
        self.scene.add_directional_light([0.3, 0.4, -1.0], [0.7, 0.7, 0.7])
        self._material = sapien.physx.PhysxMaterial(OBJECT_FRICTION, OBJECT_FRICTION, 0.0)
        self.table = self.build_actor(
            "table",
            [Primitive("box", TABLE_HALF_SIZE)],
            TABLE_COLOR,
            np.array([0.0, 0.0, -TABLE_HALF_SIZE[2]]),
            body="static",
        )
        self.arms: dict[str, SimArm] = {side: load_arm(self.scene, side) for side in SIDES}
        self.cameras: CameraRig | None = None
        if self.config.render:
            specs = self.camera_specs()
            self.cameras = CameraRig(self.scene, specs)
        self.objects: list[SceneObject] = []
        self.actors: dict[int, sapien.Entity] = {}
        self.instruction: Instruction | None = None
        self.seed: int | None = None
        self.level: str | None = None
        self._command = np.zeros(COMMAND_DIM)
        self._steps = 0

    def camera_specs(self) -> list[CameraSpec]:
        """Camera specs from the config file, with the configured image size."""
        path = self.config.camera_config or default_camera_config()
        if not Path(path).is_file():
            raise SimError(f"camera config {path} not found: pass SimConfig(camera_config=...)")
        return load_camera_specs(path, self.config.width, self.config.height)

    # --- what a task provides ---------------------------------------------------------------

    @staticmethod
    @abstractmethod
    def sample_layout(seed: int) -> list[SceneObject]:
        """A seeded layout: every object and target instance (pure; no SAPIEN)."""

    @abstractmethod
    def load_objects(self, objects: Sequence[SceneObject]) -> dict[int, sapien.Entity]:
        """Build the actors of a layout; return the actor of each instance id (its segmentation id)."""

    @abstractmethod
    def placed(self, object_id: int, target_id: int) -> bool:
        """Whether object `object_id` rests in / on target `target_id` now."""

    # --- episode ----------------------------------------------------------------------------

    def reset(self, seed: int, level: str = "none") -> Observation:
        """Start a seeded episode: new layout, arms at home, instruction at `level`.

        Raises:
            SimError: unknown level or negative seed (or a layout for which the level has no instruction).
        """
        if level not in LEVELS:
            raise SimError(f"unknown level {level!r}; expected one of {LEVELS}")
        if not isinstance(seed, int | np.integer) or seed < 0:
            raise SimError(f"seed must be a non-negative integer, got {seed!r}")
        for entity in self.actors.values():
            self.scene.remove_entity(entity)
        self.seed, self.level = int(seed), level
        try:
            self.objects = self.sample_layout(int(seed))
        except LayoutError as exc:
            raise SimError(f"seed {seed} gives no {self.name} layout: {exc}") from exc
        self.actors = self.load_objects(self.objects)
        try:
            self.instruction = generate_instruction(self.name, self.objects, level, random.Random(int(seed)))
        except ValueError as exc:
            raise SimError(f"seed {seed} gives no {level!r} instruction for {self.name}: {exc}") from exc
        for i, side in enumerate(SIDES):
            arm = self.arms[side]
            arm.reset(arm.model.home, 1.0)
            self._command[7 * i : 7 * i + 6] = arm.model.home
            self._command[7 * i + 6] = 1.0
        self._steps = 0
        self.settle()
        return self.observe()

    def settle(self, seconds: float = 0.3) -> None:
        """Let objects come to rest while the arms hold their targets."""
        for _ in range(round(seconds * self.config.physics_hz)):
            self._physics_step()

    def _physics_step(self) -> None:
        for arm in self.arms.values():
            arm.compensate_gravity()
        self.scene.step()

    def validate_command(self, command: np.ndarray) -> np.ndarray:
        """Check a (14,) joint command: finite, joints within limits, grippers in [0, 1].

        Raises:
            SimError: wrong shape, NaN/inf, or a value out of range (the message names the joint).
        """
        command = np.asarray(command, dtype=np.float64)
        if command.shape != (COMMAND_DIM,):
            raise SimError(f"command must have shape ({COMMAND_DIM},), got {command.shape}")
        if not np.all(np.isfinite(command)):
            raise SimError(f"command contains NaN or inf: {command}")
        for i, side in enumerate(SIDES):
            model = self.arms[side].model
            q = command[7 * i : 7 * i + 6]
            bad = (q < model.lower - JOINT_LIMIT_TOLERANCE_RAD) | (
                q > model.upper + JOINT_LIMIT_TOLERANCE_RAD
            )
            if np.any(bad):
                j = int(np.flatnonzero(bad)[0])
                raise SimError(
                    f"{side} {model.joint_names[j]} = {q[j]:.3f} rad is outside [{model.lower[j]:.3f}, {model.upper[j]:.3f}]"
                )
            if not 0.0 <= command[7 * i + 6] <= 1.0:
                raise SimError(f"{side} gripper must be in [0, 1], got {command[7 * i + 6]}")
        return command

    def step(self, command: np.ndarray) -> Observation:
        """Apply a joint command over one control period and observe.

        Raises:
            SimError: see `validate_command`; also when called before `reset`.
        """
        if self.instruction is None:
            raise SimError("call reset(seed, level) before step()")
        command = self.validate_command(command)
        start = self._command.copy()
        n = self.config.substeps
        velocity = (command - start) * self.config.control_hz
        # The gripper map is linear: interpolating finger positions equals interpolating the command.
        fingers = convert_gripper(np.stack([start[6::7], command[6::7]]), "normalized", "finger_m")
        for k in range(1, n + 1):
            s = k / n
            target = start + (command - start) * s
            finger = fingers[0] + (fingers[1] - fingers[0]) * s
            for i, side in enumerate(SIDES):
                self.arms[side].set_drive_targets(
                    target[7 * i : 7 * i + 6], float(finger[i]), velocity[7 * i : 7 * i + 6]
                )
            self._physics_step()
        for i, side in enumerate(SIDES):  # hold still at the commanded pose until the next command
            self.arms[side].set_targets(command[7 * i : 7 * i + 6], command[7 * i + 6])
        self._command = command
        self._steps += 1
        return self.observe()

    @property
    def max_steps(self) -> int:
        """Control steps in `max_duration_s` at the configured control rate."""
        return round(self.max_duration_s * self.config.control_hz)

    @property
    def elapsed_steps(self) -> int:
        return self._steps

    def _joints(self) -> np.ndarray:
        """(14,) measured joints in the command layout, full precision."""
        return np.concatenate([np.append(self.arms[side].q_arm, self.arms[side].gripper) for side in SIDES])

    def joint_pos(self) -> np.ndarray:
        """(14,) measured joints in the command layout."""
        return self._joints().astype(np.float32)

    def arm_models(self) -> dict[str, ArmModel]:
        """The kinematic model of each arm, by side."""
        return {side: self.arms[side].model for side in SIDES}

    def ee_pose(self) -> np.ndarray:
        """(20,) measured end-effector state in the action layout (per arm base frame)."""
        return joints_to_action(self.arm_models(), self._joints())

    def id_map(self) -> dict[int, int]:
        """SAPIEN per-scene entity id → instance id, for the segmentation pictures."""
        return {entity.per_scene_id: instance_id for instance_id, entity in self.actors.items()}

    def observe(self) -> Observation:
        """The current observation (renders when cameras are mounted)."""
        time_s = self._steps / self.config.control_hz
        views = self.cameras.capture(self.id_map(), stamp=time_s) if self.cameras is not None else []
        return Observation(views, self.joint_pos(), self.ee_pose(), time_s)

    def get_state(self) -> SimState:
        """A snapshot of the episode's dynamic state (the layout and instruction stay as they are)."""
        velocities = {}
        for instance_id, entity in self.actors.items():
            body = entity.find_component_by_type(sapien.physx.PhysxRigidDynamicComponent)
            if body is not None:
                velocities[instance_id] = np.concatenate(
                    [body.get_linear_velocity(), body.get_angular_velocity()]
                )
        return SimState(
            qpos={side: arm.articulation.get_qpos().copy() for side, arm in self.arms.items()},
            qvel={side: arm.articulation.get_qvel().copy() for side, arm in self.arms.items()},
            command=self._command.copy(),
            poses={i: self.pose(i) for i in self.actors},
            velocities=velocities,
            steps=self._steps,
        )

    def set_state(self, state: SimState) -> None:
        """Restore a snapshot taken by `get_state` in the current episode.

        Raises:
            SimError: the snapshot's instances are not this episode's.
        """
        if set(state.poses) != set(self.actors):
            raise SimError(
                f"state of instances {sorted(state.poses)} does not match this episode's {sorted(self.actors)}"
            )
        for i, side in enumerate(SIDES):
            arm = self.arms[side]
            arm.articulation.set_qpos(state.qpos[side])
            arm.articulation.set_qvel(state.qvel[side])
            arm.set_targets(state.command[7 * i : 7 * i + 6], state.command[7 * i + 6])
        for instance_id, pose in state.poses.items():
            entity = self.actors[instance_id]
            entity.set_pose(sapien.Pose(pose))
            if instance_id in state.velocities:
                body = entity.find_component_by_type(sapien.physx.PhysxRigidDynamicComponent)
                body.set_linear_velocity(state.velocities[instance_id][:3])
                body.set_angular_velocity(state.velocities[instance_id][3:])
        self._command = state.command.copy()
        self._steps = state.steps

    def evaluate(self) -> dict[str, object]:
        """Success of the episode: some valid object rests in some valid target (docs/instructions.md).

        Returns:
            {"success": bool, "placed": [object_id, target_id] or None, "chosen_placed": bool}.
        """
        if self.instruction is None:
            raise SimError("call reset(seed, level) before evaluate()")
        instr = self.instruction
        placed = next(
            ([o, t] for o in instr.valid_objects for t in instr.valid_targets if self.placed(o, t)), None
        )
        return {
            "success": placed is not None,
            "placed": placed,
            "chosen_placed": self.placed(instr.chosen_object, instr.chosen_target),
        }

    # --- helpers for tasks --------------------------------------------------------------------

    def object(self, object_id: int) -> SceneObject:
        """The layout instance with this id."""
        for obj in self.objects:
            if obj.id == object_id:
                return obj
        raise SimError(f"no instance with id {object_id} in this episode")

    def pose(self, object_id: int) -> np.ndarray:
        """(4, 4) world pose of an instance's actor."""
        return self.actors[object_id].get_pose().to_transformation_matrix()

    def grasp_point(self, object_id: int) -> np.ndarray:
        """(3,) world position of the object's `grasp_in_object` point in its current pose.

        A mug is held 5.5 cm above its frame's origin and a book 3.5 cm above its centre, so distances
        to the origin would call a perfect grasp a miss.
        """
        T = self.pose(object_id)
        return T[:3, :3] @ np.asarray(self.grasp_in_object) + T[:3, 3]

    def build_actor(
        self,
        name: str,
        primitives: Sequence[Primitive],
        color: Sequence[float],
        position: np.ndarray,
        body: str = "dynamic",
        density: float = 500.0,
    ) -> sapien.Entity:
        """Build an actor from primitives (`body` "dynamic", "kinematic" or "static")."""
        builder = self.scene.create_actor_builder()
        material = sapien.render.RenderMaterial(base_color=[*color[:3], 1.0])
        for prim in primitives:
            pose = sapien.Pose(prim.pose)
            if prim.kind == "box":
                builder.add_box_collision(pose, prim.size, self._material, density)
                builder.add_box_visual(pose, prim.size, material)
            elif prim.kind == "cylinder":
                builder.add_cylinder_collision(pose, prim.size[0], prim.size[1], self._material, density)
                builder.add_cylinder_visual(pose, prim.size[0], prim.size[1], material)
            elif prim.kind == "capsule":
                builder.add_capsule_collision(pose, prim.size[0], prim.size[1], self._material, density)
                builder.add_capsule_visual(pose, prim.size[0], prim.size[1], material)
            else:
                raise SimError(f"{name}: unknown primitive kind {prim.kind!r}")
        builder.set_initial_pose(sapien.Pose(p=np.asarray(position, dtype=np.float64)))
        build: Callable[..., sapien.Entity] = {
            "dynamic": builder.build,
            "kinematic": builder.build_kinematic,
            "static": builder.build_static,
        }[body]
        return build(name=name)


def ee_action_to_command(env: TaskEnv, action: np.ndarray) -> np.ndarray:
    """A (20,) end-effector action (base frames) → (14,) joint command by IK from the measured joints.

    Raises:
        ValueError: malformed action; `UnreachablePose` when IK fails.
    """
    action = np.asarray(action, dtype=np.float64)
    if action.shape != (2 * ARM_ACTION_DIM,) or not np.all(np.isfinite(action)):
        raise SimError(f"action must be a finite ({2 * ARM_ACTION_DIM},) vector, got {action.shape}")
    command = np.empty(COMMAND_DIM)
    for i, side in enumerate(SIDES):
        arm = env.arms[side]
        a = action[i * ARM_ACTION_DIM : (i + 1) * ARM_ACTION_DIM]
        command[7 * i : 7 * i + 6] = arm.model.ik(xyz_rot6d_to_pose(a), q0=arm.q_arm)
        command[7 * i + 6] = float(np.clip(a[9], 0.0, 1.0))
    return command


TASK_REGISTRY: dict[str, type[TaskEnv]] = {}


def register_task(name: str) -> Callable[[type[TaskEnv]], type[TaskEnv]]:
    """Class decorator: make a `TaskEnv` subclass available to `make_env(name)`."""

    def decorator(cls: type[TaskEnv]) -> type[TaskEnv]:
        if name in TASK_REGISTRY:
            raise ValueError(f"task {name!r} is registered twice")
        cls.name = name
        TASK_REGISTRY[name] = cls
        return cls

    return decorator


def make_env(task: str, config: SimConfig | None = None) -> TaskEnv:
    """Instantiate a registered task.

    Raises:
        SimError: unknown task (the message lists the registered ones).
    """
    import codediffuser_sim.tasks  # noqa: F401  (registers the built-in tasks)

    if task not in TASK_REGISTRY:
        raise SimError(f"unknown task {task!r}; registered: {sorted(TASK_REGISTRY)}")
    return TASK_REGISTRY[task](config)
