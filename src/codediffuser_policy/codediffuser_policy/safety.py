"""The motion safety layer: every joint command passes through `SafetyLayer.filter` before any robot.

Commands use the dataset's `joint_pos` layout: (14,) = per arm (left, then right) 6 joint angles (rad)
and the gripper normalised to [0 closed, 1 open]. The layer is stateful: it remembers the last command
it let through (the velocity limit is relative to it) and an e-stop latch.

Policy — what is clamped and what is rejected (rejection raises `SafetyViolation`; the caller keeps
the previous command in force, i.e. the robot holds still):

| check | action | why |
|---|---|---|
| e-stop latched | reject | nothing moves until `reset_estop()` |
| not started (`start()` not called) | reject | the velocity limit needs the current joint state |
| NaN / inf anywhere, wrong shape | reject | there is no meaningful value to clamp to |
| joint beyond its limits minus the margin | clamp | the target direction is still useful |
| joint step above `max_joint_velocity_rad_s × control_period_s` | clamp (rate limit) | reaches the target over several periods |
| gripper outside [gripper_min, gripper_max] | clamp | |
| end effector outside the workspace box (FK of the clamped command) | reject | no joint-space clamp keeps the intent |

The position clamp is applied to the target and the rate limit moves from the previous command toward
it, so a command stays within the limits whenever the previous one did. A start state outside the
margin (but inside the hard limits) is walked back inside at the velocity limit, never further out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

JOINTS_PER_ARM = 6
COMMAND_DIM = 2 * (JOINTS_PER_ARM + 1)
"""(left 6 joints, left gripper, right 6 joints, right gripper)."""
SIDES = ("left", "right")


class SafetyViolation(RuntimeError):  # noqa: N818 (the domain's name for it)
    """A command the safety layer refuses; the robot must keep its previous command."""


def _vector(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (JOINTS_PER_ARM,) or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be {JOINTS_PER_ARM} finite values, got {values}")
    return array


@dataclass
class SafetyConfig:
    """Limits of the safety layer (both arms share the vx300s joint limits).

    Attributes:
        joint_lower, joint_upper: (6,) hard joint limits, rad; None takes them from the arm models
            given to `SafetyLayer` (`kinematics.ArmModel.lower/upper`).
        joint_margin_rad: distance kept from each hard limit.
        max_joint_velocity_rad_s: largest joint speed a command may ask for.
        control_period_s: time between commands (0.02 s: 50 Hz on the real ALOHA).
        gripper_min, gripper_max: allowed normalised gripper range.
        workspace_min, workspace_max: (3,) box the end effectors must stay in, world frame, metres.
    """

    joint_lower: Sequence[float] | None = None
    joint_upper: Sequence[float] | None = None
    joint_margin_rad: float = 0.05
    max_joint_velocity_rad_s: float = 1.5
    control_period_s: float = 0.02
    gripper_min: float = 0.0
    gripper_max: float = 1.0
    workspace_min: Sequence[float] = field(default=(-0.7, -0.5, 0.0))
    workspace_max: Sequence[float] = field(default=(0.7, 0.5, 0.6))

    def __post_init__(self) -> None:
        if (self.joint_lower is None) != (self.joint_upper is None):
            raise ValueError("give both joint_lower and joint_upper, or neither (limits from the arm models)")
        if self.joint_lower is not None:
            self.joint_lower = _vector(self.joint_lower, "joint_lower")
            self.joint_upper = _vector(self.joint_upper, "joint_upper")
        if self.joint_margin_rad < 0:
            raise ValueError(f"joint_margin_rad must be >= 0, got {self.joint_margin_rad}")
        if self.joint_lower is not None and np.any(
            self.joint_upper - self.joint_lower <= 2 * self.joint_margin_rad
        ):
            raise ValueError(
                f"joint ranges {self.joint_lower} .. {self.joint_upper} leave nothing inside a margin of "
                f"{self.joint_margin_rad} rad"
            )
        if self.max_joint_velocity_rad_s <= 0:
            raise ValueError(f"max_joint_velocity_rad_s must be > 0, got {self.max_joint_velocity_rad_s}")
        if self.control_period_s <= 0:
            raise ValueError(f"control_period_s must be > 0, got {self.control_period_s}")
        if not 0.0 <= self.gripper_min < self.gripper_max <= 1.0:
            raise ValueError(
                f"need 0 <= gripper_min < gripper_max <= 1, got {self.gripper_min}, {self.gripper_max}"
            )
        self.workspace_min = np.asarray(self.workspace_min, dtype=np.float64)
        self.workspace_max = np.asarray(self.workspace_max, dtype=np.float64)
        if self.workspace_min.shape != (3,) or not np.all(self.workspace_min < self.workspace_max):
            raise ValueError(
                f"workspace must be (3,) corners with min < max, got {self.workspace_min} .. {self.workspace_max}"
            )


class ArmLike(Protocol):
    """What the layer needs of an arm model (`kinematics.ArmModel` satisfies it)."""

    lower: np.ndarray
    upper: np.ndarray

    def fk_world(self, q: np.ndarray) -> np.ndarray:
        """(6,) joint angles → (4, 4) end-effector pose in the world frame."""
        ...


class SafetyLayer:
    """Clamp or reject joint commands per the module's policy table.

    Args:
        config: the limits.
        models: per side ("left", "right") arm model: forward kinematics in the world frame (for the
            workspace box) and, when `config` has none, the joint limits.
    """

    def __init__(self, config: SafetyConfig, models: Mapping[str, ArmLike]) -> None:
        missing = set(SIDES) - set(models)
        if missing:
            raise ValueError(f"arm models missing for {sorted(missing)}")
        self.config = config
        self._models = dict(models)
        if config.joint_lower is None:
            lower, upper = (_vector(getattr(models["left"], name), name) for name in ("lower", "upper"))
            config = dataclasses.replace(config, joint_lower=lower, joint_upper=upper)
            self.config = config
        self.soft_lower = np.asarray(config.joint_lower) + config.joint_margin_rad
        self.soft_upper = np.asarray(config.joint_upper) - config.joint_margin_rad
        if np.any(self.soft_lower >= self.soft_upper):
            raise ValueError(f"joint ranges leave nothing inside a margin of {config.joint_margin_rad} rad")
        self._last: np.ndarray | None = None
        self._estopped = False

    @classmethod
    def from_kinematics(cls, config: SafetyConfig | None = None) -> SafetyLayer:
        """A layer on the vx300s models of `kinematics` (their FK and, by default, their joint limits)."""
        from codediffuser_policy.kinematics import load_arm_model

        return cls(config or SafetyConfig(), {side: load_arm_model(side) for side in SIDES})

    def max_step_rad(self, period_s: float | None = None) -> float:
        """Largest joint change between two commands `period_s` apart (default: the control period)."""
        if period_s is not None and not period_s > 0:
            raise SafetyViolation(f"period_s must be > 0, got {period_s}")
        return self.config.max_joint_velocity_rad_s * (period_s or self.config.control_period_s)

    @property
    def estopped(self) -> bool:
        return self._estopped

    @property
    def last_command(self) -> np.ndarray | None:
        """The last command let through (or the start state), (14,)."""
        return None if self._last is None else self._last.copy()

    def estop(self) -> None:
        """Latch the emergency stop: every command is rejected until `reset_estop()`."""
        self._estopped = True

    def reset_estop(self, joint_pos: np.ndarray) -> None:
        """Release the e-stop (an explicit operator action) and restart from the measured `joint_pos`."""
        self._estopped = False
        self.start(joint_pos)

    def start(self, joint_pos: np.ndarray) -> None:
        """Take the measured (14,) joint state as the previous command.

        Raises:
            SafetyViolation: the state is malformed or outside the hard joint limits (the robot needs
                manual recovery before the policy may drive it).
        """
        state = self._check_shape(joint_pos)
        for arm in self._arms(state):
            if np.any(arm[:JOINTS_PER_ARM] < self.config.joint_lower) or np.any(
                arm[:JOINTS_PER_ARM] > self.config.joint_upper
            ):
                raise SafetyViolation(
                    f"start state {np.round(arm[:JOINTS_PER_ARM], 3)} is outside the hard joint limits"
                )
        state = state.copy()
        for g in (JOINTS_PER_ARM, 2 * JOINTS_PER_ARM + 1):
            state[g] = np.clip(state[g], self.config.gripper_min, self.config.gripper_max)
        self._last = state

    def check(self, command: np.ndarray, joint_pos: np.ndarray, period_s: float | None = None) -> np.ndarray:
        """`filter` for a control loop: starts from the measured `joint_pos` when nothing was sent yet.

        Args:
            command: (14,) target.
            joint_pos: (14,) measured joint state; the velocity reference until a command passes
                (after construction or `reset_estop`), afterwards the last command sent is.
            period_s: time since the previous command (default: `config.control_period_s`).
        """
        if self._last is None and not self._estopped:
            self.start(joint_pos)
        return self.filter(command, period_s)

    def filter(self, command: np.ndarray, period_s: float | None = None) -> np.ndarray:
        """The command to send: `command` clamped, or `SafetyViolation` (see the policy table).

        Args:
            command: (14,) target.
            period_s: time since the previous command (default: `config.control_period_s`).
        """
        if self._estopped:
            raise SafetyViolation("e-stop is latched: call reset_estop() after the operator clears it")
        if self._last is None:
            raise SafetyViolation("the safety layer has no joint state: call start(joint_pos) first")
        target = self._check_shape(command).copy()
        lim = self.config
        max_step = self.max_step_rad(period_s)
        out = np.empty(COMMAND_DIM)
        for i, (arm_target, arm_last) in enumerate(
            zip(self._arms(target), self._arms(self._last), strict=True)
        ):
            joints = np.clip(arm_target[:JOINTS_PER_ARM], self.soft_lower, self.soft_upper)
            step = np.clip(joints - arm_last[:JOINTS_PER_ARM], -max_step, max_step)
            start = i * (JOINTS_PER_ARM + 1)
            out[start : start + JOINTS_PER_ARM] = arm_last[:JOINTS_PER_ARM] + step
            out[start + JOINTS_PER_ARM] = np.clip(
                arm_target[JOINTS_PER_ARM], lim.gripper_min, lim.gripper_max
            )
        for side, arm in zip(SIDES, self._arms(out), strict=True):
            position = np.asarray(self._models[side].fk_world(arm[:JOINTS_PER_ARM]))[:3, 3]
            if np.any(position < lim.workspace_min) or np.any(position > lim.workspace_max):
                raise SafetyViolation(
                    f"{side} end effector would be at {np.round(position, 3).tolist()}, outside the workspace "
                    f"{lim.workspace_min.tolist()} .. {lim.workspace_max.tolist()}"
                )
        self._last = out
        return out.copy()

    def filter_chunk(self, commands: np.ndarray) -> np.ndarray:
        """Filter (T, 14) commands in order (one per control period); stops at the first rejection.

        Returns:
            (T, 14) the commands to send.

        Raises:
            SafetyViolation: at the first rejected command (those before it count as sent).
        """
        commands = np.asarray(commands)
        if commands.ndim != 2:
            raise SafetyViolation(f"a command chunk must be (T, {COMMAND_DIM}), got {commands.shape}")
        return np.stack([self.filter(c) for c in commands]) if len(commands) else np.zeros((0, COMMAND_DIM))

    @staticmethod
    def _check_shape(command: np.ndarray) -> np.ndarray:
        array = np.asarray(command, dtype=np.float64)
        if array.shape != (COMMAND_DIM,):
            raise SafetyViolation(f"a command must be ({COMMAND_DIM},), got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise SafetyViolation(f"command contains NaN or inf: {array.tolist()}")
        return array

    @staticmethod
    def _arms(command: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        per_arm = JOINTS_PER_ARM + 1
        return command[:per_arm], command[per_arm:]
