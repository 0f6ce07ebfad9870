"""Scripted experts: IK key-frames + Cartesian interpolation through `codediffuser_policy.kinematics`.

Every task's demonstration is a pick-and-place with one arm, preferably the one on the side of the motion
(left arm for x ≤ 0, where left means −x), else the other one: approach above the object, descend, close, lift, carry, descend, open,
retreat. The gripper approaches in the vertical plane through the arm's waist with the steepest pitch
(90° = fingers straight down) at which every key-frame is reachable, so a far target is served by a tilted
grasp instead of failing. Tasks that need a given closing direction pass its world yaw; the object then
keeps its yaw from the grasp to the release.
All commands are precomputed open-loop from the initial object poses (the objects do not move before
the grasp) and are valid (14,) joint commands; `run_expert` steps them and returns what it saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from codediffuser_policy.kinematics import ArmModel, UnreachablePose
from codediffuser_sim.env import COMMAND_DIM, SIDES, Observation, SimError, TaskEnv

PITCHES_DEG = (90.0, 75.0, 60.0, 45.0)
"""Approach pitches tried in order (angle of the fingers below the horizontal)."""
SPEED_M_S = 0.3
"""Cartesian speed of the tool centre point between key-frames."""
GRIPPER_TIME_S = 0.4
"""Time spent closing or opening the gripper (the fingers need time to squeeze)."""
MAX_JOINT_STEP_RAD = 0.5
"""A Cartesian segment whose IK moves a joint further than this in one control step is rejected."""
READY_WRIST_ANGLE_RAD = 0.6
"""Wrist angle of the IK seed for key-frames (the home pose with the wrist bent down)."""
SETTLE_TIME_S = 0.3
"""Time appended at the end so that released objects come to rest before evaluation."""


class ExpertError(RuntimeError):
    """The scripted expert cannot plan this episode (e.g. a key-frame out of reach at every pitch)."""


@dataclass(frozen=True)
class PickPlace:
    """A pick-and-place demonstration, in world coordinates.

    Attributes:
        grasp: (3,) tool-centre-point position at which the fingers close.
        place: (3,) tool-centre-point position at which they open.
        lift_m: height of the approach / carry / retreat key-frames above grasp and place.
        grasp_yaw, place_yaw: world angle θ (rad) of the fingers' horizontal closing axis, direction
            (cos θ, sin θ, 0); None lets the planner aim the approach at the point from the waist (the
            closing axis then perpendicular to that direction).
        via: world TCP positions visited in order between the lift and `place` (default: above `place`).
        retreat: world TCP position after opening (default: above `place`).
        side: the arm to use; None tries the arm on the side of the motion's midpoint, then the other.
    """

    grasp: np.ndarray
    place: np.ndarray
    lift_m: float = 0.10
    grasp_yaw: float | None = None
    place_yaw: float | None = None
    via: tuple[np.ndarray, ...] = ()
    retreat: np.ndarray | None = None
    side: str | None = None


def _orientation(
    model: ArmModel, p_world: np.ndarray, pitch_deg: float, yaw_world: float | None
) -> np.ndarray:
    """(3, 3) TCP rotation in the arm base frame for a grasp at `p_world`."""
    R_world_base = model.base_pose[:3, :3]
    if yaw_world is not None:
        # The TCP's y axis is the closing axis: (cos θ, sin θ) needs a TCP yaw of θ − 90° (the pitch turns
        # about that axis). Its sign is irrelevant to a parallel gripper, so take the yaw nearest zero: the
        # fingers then point away from the base.
        base_yaw = np.arctan2(R_world_base[1, 0], R_world_base[0, 0])
        yaw = (yaw_world - base_yaw) % np.pi - np.pi / 2
        return Rotation.from_euler("ZY", [yaw, np.radians(pitch_deg)]).as_matrix()
    p_base = (np.linalg.inv(model.base_pose) @ np.append(p_world, 1.0))[:3]
    yaw = np.arctan2(p_base[1], p_base[0])
    return Rotation.from_euler("ZY", [yaw, np.radians(pitch_deg)]).as_matrix()


def _segment(start: np.ndarray, end: np.ndarray, control_hz: float) -> int:
    distance = float(np.linalg.norm(end[:3, 3] - start[:3, 3]))
    return max(2, int(np.ceil(distance / (SPEED_M_S / control_hz))))


def _arm_commands(
    env: TaskEnv, side: str, plan: PickPlace, pitch_deg: float
) -> list[tuple[np.ndarray, float]]:
    """(q_arm, gripper) per control step for one arm, or `UnreachablePose`."""
    model = env.arms[side].model
    T_base_world = np.linalg.inv(model.base_pose)
    up = np.array([0.0, 0.0, plan.lift_m])

    def key(p_world: np.ndarray, yaw: float | None) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = _orientation(model, p_world, pitch_deg, yaw)
        T[:3, 3] = (T_base_world @ np.append(p_world, 1.0))[:3]
        return T

    grasp = key(plan.grasp, plan.grasp_yaw)
    place = key(plan.place, plan.place_yaw)
    above_grasp = key(plan.grasp + up, plan.grasp_yaw)
    via = [key(p, plan.place_yaw) for p in (plan.via or (plan.place + up,))]
    retreat = key(plan.place + up if plan.retreat is None else plan.retreat, plan.place_yaw)
    # Key-frames are solved from the "wrist bent down" seed, which keeps forearm roll and wrist rotate
    # near zero; the rest of the path is warm-started, so the arm stays on that branch.
    seed = model.home.copy()
    seed[4] = READY_WRIST_ANGLE_RAD
    q_above_grasp = model.ik(above_grasp, q0=seed, restarts=4)
    for T in (grasp, place, *via, retreat):  # reject an infeasible pitch before interpolating
        model.ik(T, q0=q_above_grasp, restarts=4)

    q = model.home.copy()
    out: list[tuple[np.ndarray, float]] = []
    gripper = 1.0
    n = _segment(model.fk(q), above_grasp, env.config.control_hz)
    for k in range(1, n + 1):  # joint-space move from home: no Cartesian path through the wrist singularity
        out.append((q + (q_above_grasp - q) * (k / n), gripper))
    q = q_above_grasp
    pose = above_grasp

    def move(target: np.ndarray) -> None:
        nonlocal q, pose
        n = _segment(pose, target, env.config.control_hz)
        slerp = Slerp([0.0, 1.0], Rotation.from_matrix([pose[:3, :3], target[:3, :3]]))
        for k in range(1, n + 1):
            s = k / n
            T = np.eye(4)
            T[:3, :3] = slerp(s).as_matrix()
            T[:3, 3] = (1 - s) * pose[:3, 3] + s * target[:3, 3]
            q_next = model.ik(T, q0=q, restarts=2)
            if np.max(np.abs(q_next - q)) > MAX_JOINT_STEP_RAD:
                raise UnreachablePose(f"the path jumps {np.max(np.abs(q_next - q)):.2f} rad in one step")
            q = q_next
            out.append((q.copy(), gripper))
        pose = target

    def grip(value: float) -> None:
        nonlocal gripper
        gripper = value
        out.extend((q.copy(), value) for _ in range(round(GRIPPER_TIME_S * env.config.control_hz)))

    move(grasp)
    grip(0.0)
    move(above_grasp)
    for T in via:
        move(T)
    move(place)
    grip(1.0)
    move(retreat)
    out.extend((q.copy(), gripper) for _ in range(round(SETTLE_TIME_S * env.config.control_hz)))
    return out


def plan_pick_place(env: TaskEnv, plan: PickPlace) -> list[np.ndarray]:
    """The (14,) joint commands of a pick-and-place, the other arm holding its home pose.

    Raises:
        ExpertError: no approach pitch reaches every key-frame.
    """
    if plan.side is not None and plan.side not in SIDES:
        raise ExpertError(f"side must be one of {SIDES}, got {plan.side!r}")
    nearest = "left" if 0.5 * (plan.grasp[0] + plan.place[0]) <= 0.0 else "right"
    sides = (plan.side,) if plan.side else (nearest, SIDES[1 - SIDES.index(nearest)])
    errors = []
    steps = None
    for side in sides:
        for pitch in PITCHES_DEG:
            try:
                steps = _arm_commands(env, side, plan, pitch)
                break
            except UnreachablePose as exc:
                errors.append(f"{side} {pitch:.0f}°: {exc}")
        if steps is not None:
            break
    else:
        raise ExpertError(f"no arm can execute the pick-and-place at any pitch: {'; '.join(errors)}")
    i = SIDES.index(side)
    other = SIDES[1 - i]
    base = np.empty(COMMAND_DIM)
    base[7 * (1 - i) : 7 * (1 - i) + 6] = env.arms[other].model.home
    base[7 * (1 - i) + 6] = 1.0
    commands = []
    for q, gripper in steps:
        command = base.copy()
        command[7 * i : 7 * i + 6] = q
        command[7 * i + 6] = gripper
        commands.append(command)
    return commands


def expert_commands(env: TaskEnv) -> list[np.ndarray]:
    """The expert's commands for the current episode (the task provides `expert_plan()`)."""
    plan_fn: Callable[[], PickPlace] | None = getattr(env, "expert_plan", None)
    if plan_fn is None:
        raise SimError(f"task {env.name!r} has no scripted expert")
    return plan_pick_place(env, plan_fn())


def run_expert(
    env: TaskEnv,
    on_step: Callable[[Observation, np.ndarray], None] | None = None,
    first: Observation | None = None,
) -> dict[str, object]:
    """Execute the expert from the current state and return `env.evaluate()`.

    `on_step(obs, command)` sees each observation and the command issued from it (the demonstration
    pairs); `first` is the observation of the current state when the caller already has it.
    """
    commands = expert_commands(env)
    obs = first if first is not None else env.observe()
    for command in commands:
        if on_step is not None:
            on_step(obs, command)
        obs = env.step(command)
    return env.evaluate()
