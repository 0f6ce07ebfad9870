"""Synthetic episodes with a known answer, for tests, benchmarks and smoke-training without a simulator.

A scene of two boxes of points on a table; the attended box (attention 1) is the one the left gripper
moves to, so the action depends on the attention channel, not only on the geometry. The trajectory is
a straight line from a start pose to above the attended box, the gripper closing on arrival.
"""

from __future__ import annotations

import numpy as np

from codediffuser_perception.geometry import matrix_to_rot6d
from codediffuser_perception.types import ACTION_DIM, ARM_ACTION_DIM
from codediffuser_policy.dataset import JOINT_DIM

WORKSPACE_MIN = (-0.5, -0.4, -0.05)
"""Crop box of the synthetic scene (world frame, metres)."""
WORKSPACE_MAX = (0.5, 0.4, 0.4)


def synthetic_episode(length: int, n_points: int, seed: int) -> dict[str, np.ndarray]:
    """One episode in the `DatasetWriter.add_episode` layout (every key of `dataset.STEP_KEYS`).

    Args:
        length: steps.
        n_points: points per step (half per box).
        seed: fixes the box positions, which box is attended, and the point jitter.
    """
    if length < 1 or n_points < 2:
        raise ValueError(f"need length >= 1 and n_points >= 2, got {length}, {n_points}")
    rng = np.random.default_rng(seed)
    centres = np.stack([rng.uniform([-0.3, -0.2, 0.02], [0.3, 0.2, 0.05]) for _ in range(2)])
    attended = int(rng.integers(2))
    half = n_points // 2
    sizes = (half, n_points - half)
    start = np.array([-0.2, 0.0, 0.25])
    rot6d = matrix_to_rot6d(np.diag([1.0, -1.0, -1.0]))  # gripper pointing down
    right_arm = np.concatenate([[0.2, 0.0, 0.25], rot6d, [1.0]])
    action = np.zeros((length, ACTION_DIM), dtype=np.float32)
    for t in range(length):
        alpha = min(1.0, (t + 1) / max(1, length - 2))
        xyz = (1 - alpha) * start + alpha * (centres[attended] + [0.0, 0.0, 0.03])
        gripper = 0.0 if alpha >= 1.0 else 1.0
        action[t, :ARM_ACTION_DIM] = np.concatenate([xyz, rot6d, [gripper]])
        action[t, ARM_ACTION_DIM:] = right_arm
    agent_pos = np.concatenate([action[:1], action[:-1]]).astype(np.float32)
    points = np.empty((length, n_points, 3), dtype=np.float32)
    attention = np.empty((length, n_points), dtype=np.float32)
    for t in range(length):
        blocks = [c + rng.uniform(-0.02, 0.02, size=(k, 3)) for c, k in zip(centres, sizes, strict=True)]
        points[t] = np.concatenate(blocks)
        attention[t] = np.concatenate([np.full(k, float(i == attended)) for i, k in enumerate(sizes)])
    colors = np.full((length, n_points, 3), 128, dtype=np.uint8)
    joint_pos = np.zeros((length, JOINT_DIM), dtype=np.float32)
    return {
        "point_cloud": points,
        "colors": colors,
        "attention": attention,
        "agent_pos": agent_pos,
        "action": action,
        "joint_pos": joint_pos,
    }
