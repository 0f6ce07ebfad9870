"""geometry_msgs/Transform(Stamped) ↔ 4×4 poses, and a TF lookup over a list of transforms.

A TransformStamped with header.frame_id = parent and child_frame_id = child carries T_parent_child
(it maps child coordinates into the parent frame), e.g. `world → cam0_color_optical_frame` is T_world_cam.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np

from codediffuser_perception.geometry import invert_pose, matrix_to_quat_xyzw, quat_xyzw_to_matrix
from codediffuser_perception.ros_conversions._base import ConversionError, field, header, new_message


def transform_to_matrix(msg: Any) -> np.ndarray:
    """geometry_msgs/Transform or TransformStamped → (4, 4) float64 T_parent_child."""
    transform = msg.transform if hasattr(msg, "transform") else msg
    t, q = field(transform, "translation"), field(transform, "rotation")
    quat = np.array([q.x, q.y, q.z, q.w], dtype=np.float64)
    norm = np.linalg.norm(quat)
    if not np.isfinite(norm) or norm < 1e-6:
        raise ConversionError(f"Transform.rotation is not a valid quaternion: {quat.tolist()}")
    T = np.eye(4)
    T[:3, :3] = quat_xyzw_to_matrix(quat / norm)
    T[:3, 3] = [t.x, t.y, t.z]
    if not np.isfinite(T).all():
        raise ConversionError(f"Transform.translation is not finite: {T[:3, 3].tolist()}")
    return T


def matrix_to_transform_stamped(T: np.ndarray, parent: str, child: str, stamp: Any, msg: Any = None) -> Any:
    """(4, 4) rigid T_parent_child → geometry_msgs/TransformStamped."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.isfinite(T).all():
        raise ConversionError(f"T must be a finite (4, 4) pose, got shape {T.shape}")
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
        raise ConversionError(f"T[:3, :3] is not a rotation (det {np.linalg.det(R):.4f})")
    msg = msg if msg is not None else new_message("geometry_msgs.msg", "TransformStamped")
    header(stamp, parent, msg.header)
    msg.child_frame_id = child
    x, y, z = (float(v) for v in T[:3, 3])
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = x, y, z
    qx, qy, qz, qw = (float(v) for v in matrix_to_quat_xyzw(R))
    rotation = msg.transform.rotation
    rotation.x, rotation.y, rotation.z, rotation.w = qx, qy, qz, qw
    return msg


def lookup_transform(transforms: Iterable[Any], target_frame: str, source_frame: str) -> np.ndarray:
    """T_target_source (maps source-frame points into the target frame) by chaining TransformStamped edges.

    Edges are usable both ways; frame names are compared without a leading "/".
    """
    edges: dict[str, list[tuple[str, np.ndarray]]] = {}
    for msg in transforms:
        parent, child = msg.header.frame_id.lstrip("/"), msg.child_frame_id.lstrip("/")
        T = transform_to_matrix(msg)
        edges.setdefault(parent, []).append((child, T))
        edges.setdefault(child, []).append((parent, invert_pose(T)))
    target, source = target_frame.lstrip("/"), source_frame.lstrip("/")
    found = {target: np.eye(4)}  # frame -> T_target_frame
    queue = deque([target])
    while queue:
        frame = queue.popleft()
        for neighbour, T_frame_neighbour in edges.get(frame, []):
            if neighbour not in found:
                found[neighbour] = found[frame] @ T_frame_neighbour
                queue.append(neighbour)
    if source not in found:
        raise ConversionError(
            f"no transform chain from {source_frame!r} to {target_frame!r} (known: {sorted(edges)})"
        )
    return found[source]
