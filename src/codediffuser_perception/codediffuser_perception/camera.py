"""Pinhole camera maths shared by fusion, feature fusion and mask fusion.

Every view's pose is `T_world_cam`, the optical frame (x right, y down, z forward) in the world, and
its intrinsics `K` map optical-frame points to pixels: u = fx·x/z + cx, v = fy·y/z + cy (pixel centres
at integer coordinates). Depth is metres along the optical axis; 0 or NaN means no measurement.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from codediffuser_perception.geometry import invert_pose, transform_points
from codediffuser_perception.types import CameraView


def valid_depth_mask(depth: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels with a finite, positive depth."""
    return np.isfinite(depth) & (depth > 0)


def backproject(view: CameraView, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lift the valid depth pixels of one view into the world frame.

    Args:
        view: the RGB-D view.
        mask: optional (H, W) bool restricting which pixels are lifted (in addition to valid depth).

    Returns:
        (N, 3) float32 world points and the (N,) int64 flat pixel indices (row-major) they came from.
    """
    keep = valid_depth_mask(view.depth)
    if mask is not None:
        keep &= mask
    flat = np.flatnonzero(keep)
    v, u = np.divmod(flat, view.width)
    z = view.depth.reshape(-1)[flat].astype(np.float64)
    K = view.K.astype(np.float64)
    x = (u - K[0, 2]) * z / K[0, 0]
    y = (v - K[1, 2]) * z / K[1, 1]
    T = view.T_world_cam.astype(np.float64)
    # columns, not a (N, 3) @ (3, 3) product: a skinny matmul is ~10× slower for ~10^6 pixels
    world = np.empty((len(flat), 3), np.float32)
    for axis in range(3):
        world[:, axis] = T[axis, 0] * x + T[axis, 1] * y + T[axis, 2] * z + T[axis, 3]
    return world, flat


def project(points: np.ndarray, view: CameraView) -> tuple[np.ndarray, np.ndarray]:
    """Project world points into one view.

    Args:
        points: (M, 3) world points.
        view: the camera.

    Returns:
        (M, 2) float64 pixel coordinates (u, v) and (M,) float64 depth along the optical axis (the
        projected depth; ≤ 0 means behind the camera, and then the pixel coordinates are meaningless).
    """
    cam = transform_points(invert_pose(view.T_world_cam.astype(np.float64)), np.asarray(points, np.float64))
    z = cam[:, 2]
    safe_z = np.where(z > 1e-9, z, 1.0)
    K = view.K.astype(np.float64)
    u = K[0, 0] * cam[:, 0] / safe_z + K[0, 2]
    v = K[1, 1] * cam[:, 1] / safe_z + K[1, 2]
    return np.stack([u, v], axis=1), z


class PixelLookup(NamedTuple):
    """Where world points land in one view (see `pixel_lookup`).

    Attributes:
        uv: (M, 2) float64 sub-pixel coordinates (u, v); meaningless where not `in_image`.
        in_image: (M,) bool, the point is in front of the camera and its nearest pixel is in the image.
        flat: (M,) int64 row-major index of the nearest pixel (0 where not `in_image`).
        depth_gap: (M,) float64 |projected depth − observed depth| in metres (inf where not `in_image` or
            the observed depth is invalid).
    """

    uv: np.ndarray
    in_image: np.ndarray
    flat: np.ndarray
    depth_gap: np.ndarray


def pixel_lookup(points: np.ndarray, view: CameraView) -> PixelLookup:
    """Project world points into one view and compare with the depth observed at their nearest pixel."""
    uv, z = project(points, view)
    col = np.rint(uv[:, 0]).astype(np.int64)
    row = np.rint(uv[:, 1]).astype(np.int64)
    in_image = (z > 1e-6) & (col >= 0) & (col < view.width) & (row >= 0) & (row < view.height)
    flat = np.where(in_image, row * view.width + col, 0)
    observed = view.depth.reshape(-1)[flat].astype(np.float64)
    ok = in_image & np.isfinite(observed) & (observed > 0)
    depth_gap = np.where(ok, np.abs(z - np.where(ok, observed, 0.0)), np.inf)
    return PixelLookup(uv, in_image, flat, depth_gap)


def visibility_weight(depth_gap: np.ndarray, mu_m: float = 0.02) -> np.ndarray:
    """D3Fields' per-view visibility weight w = exp(min(mu − |d_proj − d_obs|, 0) / mu).

    1 when the projected depth agrees with the observed one within `mu_m`, decaying for points that are
    occluded in (or absent from) that view; 0 where `depth_gap` is inf.
    """
    return np.exp(np.minimum(mu_m - depth_gap, 0.0) / mu_m)
