"""The vx300s robot model shared by the simulator, the policy and the nodes: FK, IK, gripper units, URDF.

Everything is derived from gym-aloha's ALOHA MJCF (`robot_mjcf`), so there is one source of truth for the
geometry. Frames: an arm's *base frame* is its `base_link` on the table surface with x pointing to the
table centre (the interbotix `base_link` convention); the end effector is the tool centre point `ee_link`
between the finger pads (on the gripper's x axis, `robot_mjcf.TCP_INSET_M` behind the fingertips), with x
along the fingers and y the closing direction. The policy's actions are `ee_link` poses in the base
frame (DESIGN.md §3); `ArmModel.base_pose` places the base in the world frame of docs/instructions.md.

IK is damped least squares on the analytic 6×6 Jacobian with joint limits enforced at every step and
seeded restarts, so a given call always returns the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from codediffuser_perception.geometry import pose_to_xyz_rot6d
from codediffuser_policy.robot_mjcf import ARM_JOINTS, BASE_LINK, EE_LINK, SIDES, ArmSpec, load_arm_spec

GRIPPER_MOTOR_CLOSED_RAD = 0.6197
"""Interbotix ALOHA follower gripper motor angle when closed (DESIGN.md §6)."""
GRIPPER_MOTOR_OPEN_RAD = 1.6214
"""Interbotix ALOHA follower gripper motor angle when open."""
GRIPPER_UNITS = ("normalized", "finger_m", "motor_rad")


class UnreachablePose(ValueError):  # noqa: N818 (the name the policy and the nodes use)
    """No joint configuration within the limits reaches the requested end-effector pose."""


@dataclass(frozen=True)
class ArmModel:
    """Kinematics of one vx300s arm (6 revolute joints) plus its gripper range.

    Attributes:
        side: "left" (at −x) or "right" (at +x).
        joint_names: the six arm joints, chain order (waist … wrist_rotate).
        lower, upper: (6,) joint position limits in rad, from the MJCF.
        base_pose: (4, 4) T_world_base.
        home: (6,) start configuration (gym-aloha's keyframe: gripper raised in front of the base).
        finger_lower, finger_upper: the left finger's prismatic range in metres (closed, open); the right
            finger mirrors it (negative).
        urdf_link_names: the URDF links carrying the base and the tool centre point.
    """

    side: str
    joint_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    base_pose: np.ndarray
    home: np.ndarray
    finger_lower: float
    finger_upper: float
    _origins: np.ndarray  # (7, 4, 4): joint origins along the chain, the last one is gripper → ee (fixed)
    _axes: np.ndarray  # (6, 3) joint axes in their child frames
    urdf_link_names: tuple[str, str] = (BASE_LINK, EE_LINK)

    def _check_q(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (6,):
            raise ValueError(f"joint vector must have shape (6,), got {q.shape}")
        if not np.all(np.isfinite(q)):
            raise ValueError(f"joint vector contains NaN or inf: {q}")
        return q

    def _frames(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Poses of each joint's child frame (6, 4, 4) and of the TCP (4, 4), in the base frame."""
        T = np.eye(4)
        frames = np.empty((6, 4, 4))
        for i in range(6):
            M = self._origins[i].copy()
            M[:3, :3] = M[:3, :3] @ _axis_rotation(self._axes[i], q[i])
            T = T @ M
            frames[i] = T
        return frames, T @ self._origins[6]

    def fk(self, q: np.ndarray) -> np.ndarray:
        """(6,) joint angles (rad) → (4, 4) pose of the TCP in the arm base frame."""
        return self._frames(self._check_q(q))[1]

    def fk_world(self, q: np.ndarray) -> np.ndarray:
        """(6,) joint angles → (4, 4) pose of the TCP in the world frame."""
        return self.base_pose @ self.fk(q)

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        """(6, 6) geometric Jacobian of the TCP in the base frame: rows [v (m/rad), ω (rad/rad)]."""
        frames, T_ee = self._frames(self._check_q(q))
        return self._jacobian(frames, T_ee)

    def _jacobian(self, frames: np.ndarray, T_ee: np.ndarray) -> np.ndarray:
        z = np.einsum("nij,nj->ni", frames[:, :3, :3], self._axes)  # (6, 3) world axes
        r = T_ee[:3, 3] - frames[:, :3, 3]
        return np.concatenate([np.cross(z, r).T, z.T], axis=0)

    def ik(
        self,
        T_base_ee: np.ndarray,
        q0: np.ndarray | None = None,
        *,
        tol_pos_m: float = 1e-4,
        tol_rot_rad: float = 1e-3,
        max_iters: int = 150,
        restarts: int = 8,
        damping: float = 1e-3,
    ) -> np.ndarray:
        """Joint angles within the limits that put the TCP at `T_base_ee` (arm base frame).

        Starts from `q0` (default: mid-range), then from `restarts` seeded random configurations.

        Raises:
            ValueError: `T_base_ee` is not a finite (4, 4) rigid transform.
            UnreachablePose: no start converged; the message gives the best position/rotation error.
        """
        T_target = np.asarray(T_base_ee, dtype=np.float64)
        if T_target.shape != (4, 4) or not np.all(np.isfinite(T_target)):
            raise ValueError(f"target pose must be a finite (4, 4) matrix, got shape {T_target.shape}")
        R_target = T_target[:3, :3]
        if not np.allclose(R_target.T @ R_target, np.eye(3), atol=1e-4):
            raise ValueError("target pose rotation is not orthonormal")
        starts = [self._check_q(q0) if q0 is not None else 0.5 * (self.lower + self.upper)]
        rng = np.random.default_rng(0)
        starts += list(rng.uniform(self.lower, self.upper, size=(restarts, 6)))
        best = (np.inf, np.inf)
        for q in starts:
            q = np.clip(q, self.lower, self.upper)
            for _ in range(max_iters):
                frames, T_ee = self._frames(q)
                e_pos = T_target[:3, 3] - T_ee[:3, 3]
                e_rot = Rotation.from_matrix(R_target @ T_ee[:3, :3].T).as_rotvec()
                err_pos, err_rot = float(np.linalg.norm(e_pos)), float(np.linalg.norm(e_rot))
                if err_pos < tol_pos_m and err_rot < tol_rot_rad:
                    return q
                J = self._jacobian(frames, T_ee)
                e = np.concatenate([e_pos, e_rot])
                dq = J.T @ np.linalg.solve(J @ J.T + damping**2 * np.eye(6), e)
                # Active set: a joint pinned at a limit and pushed outwards drops out of this step.
                pinned = ((q <= self.lower) & (dq < 0)) | ((q >= self.upper) & (dq > 0))
                if np.any(pinned):
                    J[:, pinned] = 0.0
                    dq = J.T @ np.linalg.solve(J @ J.T + damping**2 * np.eye(6), e)
                step = np.max(np.abs(dq))
                if step > 0.5:
                    dq *= 0.5 / step
                q = np.clip(q + dq, self.lower, self.upper)
            best = min(best, (err_pos, err_rot))
        raise UnreachablePose(
            f"{self.side} arm cannot reach position {np.round(T_target[:3, 3], 4).tolist()} (base frame): best"
            f" error {best[0] * 1000:.1f} mm / {np.degrees(best[1]):.1f} deg within the joint limits"
        )


def _axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' formula for a unit axis (cheaper than scipy in the IK inner loop)."""
    x, y, z = axis
    K = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * K + (1.0 - np.cos(angle)) * (K @ K)


def convert_gripper(value: float | np.ndarray, src: str, dst: str) -> np.ndarray:
    """Map a gripper opening between units; the one place these conventions meet (DESIGN.md §6).

    Units: "normalized" (policy: 0 closed, 1 open), "finger_m" (simulated left finger position,
    0.021 closed … 0.057 open, from the MJCF), "motor_rad" (interbotix gripper motor angle, 0.6197 closed …
    1.6214 open). The maps are linear; values beyond the range are clipped to it (sensor readings overshoot
    slightly at the end stops).

    Raises:
        ValueError: unknown unit or a NaN/inf value.
    """
    for unit in (src, dst):
        if unit not in GRIPPER_UNITS:
            raise ValueError(f"gripper unit must be one of {GRIPPER_UNITS}, got {unit!r}")
    value = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(value)):
        raise ValueError(f"gripper value must be finite, got {value}")
    finger = load_arm_spec("left").joint_by_name["left_finger"]
    ranges = {
        "normalized": (0.0, 1.0),
        "finger_m": (finger.lower, finger.upper),
        "motor_rad": (GRIPPER_MOTOR_CLOSED_RAD, GRIPPER_MOTOR_OPEN_RAD),
    }
    lo, hi = ranges[src]
    normalized = np.clip((value - lo) / (hi - lo), 0.0, 1.0)
    lo, hi = ranges[dst]
    return lo + normalized * (hi - lo)


def _chain(spec: ArmSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Origins (7, 4, 4), axes (6, 3), lower (6,), upper (6,) of the base → TCP chain."""
    by_child = {j.child: j for j in spec.joints}
    path = []
    link = EE_LINK
    while link != BASE_LINK:
        joint = by_child[link]
        path.append(joint)
        link = joint.parent
    path.reverse()
    movable = [j for j in path if j.kind != "fixed"]
    if tuple(j.name for j in movable) != ARM_JOINTS or path[-1].kind != "fixed":
        raise RuntimeError(f"unexpected vx300s chain in the MJCF: {[j.name for j in path]}")
    # Fold fixed joints between movable ones (none in the vx300s) into the next origin.
    origins, pending = [], np.eye(4)
    for joint in path:
        pending = pending @ joint.origin
        if joint.kind != "fixed":
            origins.append(pending)
            pending = np.eye(4)
    origins.append(pending)
    return (
        np.stack(origins),
        np.stack([j.axis for j in movable]),
        np.array([j.lower for j in movable]),
        np.array([j.upper for j in movable]),
    )


@lru_cache(maxsize=2)
def load_arm_model(side: str) -> ArmModel:
    """The kinematic model of the `side` ("left" or "right") arm.

    Raises:
        ValueError: unknown side.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    spec = load_arm_spec(side)
    origins, axes, lower, upper = _chain(spec)
    finger = spec.joint_by_name["left_finger"]
    base_pose, home = spec.T_world_base.copy(), spec.home_q.copy()
    for arr in (origins, axes, lower, upper, base_pose, home):
        arr.setflags(write=False)  # the model is cached and shared: nobody may edit it in place
    return ArmModel(
        side=side,
        joint_names=ARM_JOINTS,
        lower=lower,
        upper=upper,
        base_pose=base_pose,
        home=home,
        finger_lower=finger.lower,
        finger_upper=finger.upper,
        _origins=origins,
        _axes=axes,
    )


def arm_urdf_path(side: str) -> Path:
    """Path of the generated URDF of one arm (written to the cache on first use)."""
    from codediffuser_policy.robot_urdf import write_arm_urdf

    return write_arm_urdf(load_arm_spec(side))


def joints_to_action(models: Mapping[str, ArmModel], q: np.ndarray) -> np.ndarray:
    """(14,) joints in the command layout (per arm, left first: 6 arm joints, gripper) → (20,) action layout.

    Per arm: FK of the arm joints in the arm's base frame as xyz + rot6d, then the gripper value as
    given. One function for the recorded actions (commanded joints), the recorded and deployed
    `agent_pos` (measured joints) and the simulator's end-effector state, so the three cannot drift apart.
    """
    parts = []
    for i, side in enumerate(SIDES):
        T = models[side].fk(q[7 * i : 7 * i + 6])
        parts += [pose_to_xyz_rot6d(T), [q[7 * i + 6]]]
    return np.concatenate(parts).astype(np.float32)
