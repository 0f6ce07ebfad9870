"""Training-window augmentations: new demonstrations made from recorded ones.

The policy maps where the attended objects are to which arm moves and where its gripper goes. From a
few dozen recorded layouts it learns that map poorly: with 60 Pack Battery demonstrations the first
action chunk of a new scene moved the wrong arm in about one sample of three, later chunks switched
arms, and grasps that did start missed by 5–10 cm, although held-out windows were fitted to 1.4 cm.
Two transformations turn one demonstration into others that are just as valid:

- mirror: ALOHA's arms stand mirror-symmetrically about the world's x = 0 plane and each arm is
  symmetric about its own vertical plane, so the mirror image of a left-arm demonstration is a
  right-arm demonstration (joints (q0..q5) ↦ (-q0, q1, q2, -q3, q4, -q5), checked against the
  kinematic model in the tests). This is the augmentation that teaches the choice of arm: every scene
  is seen with the other arm on the mirrored side.
- shift: moving the scene by a horizontal offset moves the demonstrated motion by the same offset.

Points are in the world frame; `agent_pos`/`action` rows hold per arm xyz in that arm's base frame,
a 6D rotation and the gripper (docs/dataset.md), so both transformations go through the base poses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codediffuser_perception.geometry import pose_to_xyz_rot6d, xyz_rot6d_to_pose
from codediffuser_perception.types import ARM_ACTION_DIM
from codediffuser_policy.dataset import DatasetError, MinMax

MIRROR_WORLD = np.diag([-1.0, 1.0, 1.0])
"""The reflection x ↦ -x of the world (the plane between the arms)."""
MIRROR_GRIPPER = np.diag([1.0, -1.0, 1.0])
"""The gripper frame's own reflection (fingers close along its y axis, symmetrically): composing it
with the world's keeps a mirrored end-effector orientation a proper rotation that points the same way."""


def mirror_world_pose(T: np.ndarray) -> np.ndarray:
    """(..., 4, 4) world poses of a gripper → the poses of its mirror image."""
    out = np.array(T, dtype=np.float64)
    out[..., :3, :3] = MIRROR_WORLD @ out[..., :3, :3] @ MIRROR_GRIPPER
    out[..., :3, 3] = out[..., :3, 3] @ MIRROR_WORLD.T
    return out


@dataclass(frozen=True)
class WindowAugmentation:
    """Random mirror and horizontal shift of a training window (scene and motion together).

    Attributes:
        base_poses: (2, 4, 4) T_world_base of the left and right arm (`ArmModel.base_pose`).
        translate_m: shifts are uniform in [-translate_m, translate_m] along world x and y (z stays:
            the table does); 0 = no shift.
        mirror: mirror half of the windows (needs mirror-symmetric bases).

    Raises:
        DatasetError: malformed base poses, a negative shift, or `mirror` with bases that are not
            mirror images of each other.
    """

    base_poses: np.ndarray
    translate_m: float = 0.0
    mirror: bool = False

    def __post_init__(self) -> None:
        if np.shape(self.base_poses) != (2, 4, 4):
            raise DatasetError(f"base_poses must be (2, 4, 4), got {np.shape(self.base_poses)}")
        if not self.translate_m >= 0:
            raise DatasetError(f"translate_m must be >= 0, got {self.translate_m}")
        left, right = np.asarray(self.base_poses, dtype=np.float64)
        # a base frame mirrors like a gripper frame (its y axis is the lateral one); 1e-4: ALOHA's
        # right base is yawed 3.14158 rad, not π (a 7e-6 rotation entry)
        if self.mirror and not np.allclose(mirror_world_pose(left), right, atol=1e-4):
            raise DatasetError(
                "mirror needs the right arm's base to be the mirror image of the left's about x = 0; "
                f"got left {left[:3, 3].round(3).tolist()}, right {right[:3, 3].round(3).tolist()}"
            )

    def mirror_poses(self, rows: np.ndarray) -> np.ndarray:
        """(..., 20) `agent_pos`/`action` rows → the rows of the mirrored motion (the arms swap)."""
        rows = np.asarray(rows, dtype=np.float32)
        bases = np.asarray(self.base_poses, dtype=np.float64)
        out = np.empty_like(rows)
        for arm in (0, 1):
            block = rows[..., arm * ARM_ACTION_DIM : (arm + 1) * ARM_ACTION_DIM]
            other = 1 - arm
            T_other = np.linalg.inv(bases[other]) @ mirror_world_pose(bases[arm] @ xyz_rot6d_to_pose(block))
            start = other * ARM_ACTION_DIM
            out[..., start : start + 9] = pose_to_xyz_rot6d(T_other)
            out[..., start + 9] = block[..., 9]
        return out

    def shift_poses(self, rows: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """(..., 20) rows with each arm's xyz moved by the world `offset` (3,) in its base frame."""
        out = np.array(rows, dtype=np.float32)
        for arm, base in enumerate(np.asarray(self.base_poses, dtype=np.float64)):
            start = arm * ARM_ACTION_DIM
            out[..., start : start + 3] += (base[:3, :3].T @ offset).astype(np.float32)
        return out

    def apply(
        self, rng: np.random.Generator, points: np.ndarray, agent_pos: np.ndarray, action: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One random draw applied to a window: points (..., 3) world, `agent_pos`/`action` (..., 20)."""
        flip = self.mirror and rng.random() < 0.5
        xy = rng.uniform(-self.translate_m, self.translate_m, size=2)
        offset = np.array([xy[0], xy[1], 0.0])
        points = np.asarray(points, dtype=np.float32)
        if flip:
            points = points @ MIRROR_WORLD.T.astype(np.float32)
            agent_pos, action = self.mirror_poses(agent_pos), self.mirror_poses(action)
        points = points + offset.astype(np.float32)
        return points, self.shift_poses(agent_pos, offset), self.shift_poses(action, offset)

    def fit(self, rows: np.ndarray) -> MinMax:
        """Min-max statistics of (S, 20) rows covering every window this augmentation can make.

        Mirrored rows are included as they are; the shift widens each arm's xyz by the largest
        change of that base axis (|R^T| @ (1, 1, 0) · translate_m).
        """
        rows = np.asarray(rows, dtype=np.float32)
        stats = MinMax.fit(np.concatenate([rows, self.mirror_poses(rows)]) if self.mirror else rows)
        margin = np.zeros(rows.shape[-1], dtype=np.float32)
        for arm, base in enumerate(np.asarray(self.base_poses, dtype=np.float64)):
            start = arm * ARM_ACTION_DIM
            margin[start : start + 3] = self.translate_m * np.abs(base[:3, :3].T) @ np.array([1.0, 1.0, 0.0])
        return MinMax(stats.min - margin, stats.max + margin, stats.eps)


__all__ = ["MIRROR_GRIPPER", "MIRROR_WORLD", "WindowAugmentation", "mirror_world_pose"]
