"""Rigid-body helpers shared by perception, the simulator and the policy.

The 6D rotation representation (Zhou et al., CVPR 2019) is the first two columns of the rotation
matrix; it is continuous, which is why diffusion policies regress it instead of quaternions.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def matrix_to_rot6d(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices → (..., 6): the first two columns, column-major [c0, c1]."""
    R = np.asarray(R)
    return np.concatenate([R[..., :, 0], R[..., :, 1]], axis=-1)


def rot6d_to_matrix(d6: np.ndarray) -> np.ndarray:
    """(..., 6) → (..., 3, 3) by Gram-Schmidt; any non-degenerate 6-vector maps to a valid rotation."""
    d6 = np.asarray(d6, dtype=np.float64)
    a1, a2 = d6[..., :3], d6[..., 3:]
    n1 = np.linalg.norm(a1, axis=-1, keepdims=True)
    if np.any(n1 < 1e-9):
        raise ValueError("degenerate 6D rotation: first column has zero norm")
    b1 = a1 / n1
    b2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    n2 = np.linalg.norm(b2, axis=-1, keepdims=True)
    if np.any(n2 < 1e-9):
        raise ValueError("degenerate 6D rotation: columns are parallel")
    b2 = b2 / n2
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def pose_to_xyz_rot6d(T: np.ndarray) -> np.ndarray:
    """(..., 4, 4) poses → (..., 9) [xyz, rot6d]: the pose part of an arm's action block."""
    T = np.asarray(T)
    return np.concatenate([T[..., :3, 3], matrix_to_rot6d(T[..., :3, :3])], axis=-1)


def xyz_rot6d_to_pose(v: np.ndarray) -> np.ndarray:
    """(..., >= 9) [xyz, rot6d, ...] → (..., 4, 4) poses; entries after the ninth (the gripper) are ignored."""
    v = np.asarray(v, dtype=np.float64)
    T = np.zeros((*v.shape[:-1], 4, 4))
    T[..., :3, :3] = rot6d_to_matrix(v[..., 3:9])
    T[..., :3, 3] = v[..., :3]
    T[..., 3, 3] = 1.0
    return T


def make_pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """A (4, 4) homogeneous transform from a (3, 3) rotation and a (3,) translation."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


def invert_pose(T: np.ndarray) -> np.ndarray:
    """Inverse of a (4, 4) rigid transform without a general matrix inverse."""
    R, t = T[:3, :3], T[:3, 3]
    return make_pose(R.T, -R.T @ t)


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (4, 4) transform to (N, 3) points."""
    return points @ T[:3, :3].T + T[:3, 3]


def quat_xyzw_to_matrix(q: np.ndarray) -> np.ndarray:
    """ROS quaternion order (x, y, z, w) → (3, 3)."""
    return Rotation.from_quat(q).as_matrix()


def matrix_to_quat_xyzw(R: np.ndarray) -> np.ndarray:
    """(3, 3) → ROS quaternion order (x, y, z, w)."""
    return Rotation.from_matrix(R).as_quat()
