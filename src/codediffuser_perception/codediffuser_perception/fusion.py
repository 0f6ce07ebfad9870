"""Multi-view RGB-D fusion: four calibrated views → one world-frame point cloud (the paper's P).

Each view's valid depth pixels are lifted into the world (`camera.backproject`), merged, cropped to
the workspace box, voxel-downsampled and cleaned by statistical outlier removal (both open3d). The
result is a `FeatureCloud` without features; `features.fuse_features` adds them.

Simulator segmentation, when every view carries it, travels through the voxel step as per-point
`object_ids`: each voxel takes the id of one representative source point (open3d's
`voxel_down_sample_and_trace` records, per voxel, source points per octant; we take the largest index),
so ids are exact labels of real measurements, never averages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from codediffuser_perception.camera import backproject, valid_depth_mask
from codediffuser_perception.types import CameraView, FeatureCloud, PerceptionError


@dataclass
class FusionConfig:
    """How views are fused into one cloud.

    Attributes:
        workspace_min: (x, y, z) lower corner of the crop box, world frame, metres.
        workspace_max: (x, y, z) upper corner of the crop box, world frame, metres.
        voxel_size_m: edge of the downsampling voxel in metres (points and colours are averaged per voxel).
        outlier_neighbors: neighbours used by statistical outlier removal; 0 disables it.
        outlier_std_ratio: a point is an outlier when its mean neighbour distance exceeds the cloud's mean
            by this many standard deviations.
        camera_names: when set, exactly these views (by name, any order) must be given.
    """

    workspace_min: tuple[float, float, float] = (-0.5, -0.4, -0.02)
    workspace_max: tuple[float, float, float] = (0.5, 0.4, 0.5)
    voxel_size_m: float = 0.005
    outlier_neighbors: int = 20
    outlier_std_ratio: float = 2.0
    camera_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        lo = np.asarray(self.workspace_min, dtype=np.float64)
        hi = np.asarray(self.workspace_max, dtype=np.float64)
        if lo.shape != (3,) or hi.shape != (3,) or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise PerceptionError(
                f"workspace_min/max must be 3 finite numbers, got {self.workspace_min}, {self.workspace_max}"
            )
        if np.any(lo >= hi):
            raise PerceptionError(
                f"workspace_min must be < workspace_max on every axis, got {self.workspace_min} .. {self.workspace_max}"
            )
        if not self.voxel_size_m > 0:
            raise PerceptionError(f"voxel_size_m must be > 0, got {self.voxel_size_m}")
        if self.outlier_neighbors < 0:
            raise PerceptionError(f"outlier_neighbors must be >= 0, got {self.outlier_neighbors}")
        if not self.outlier_std_ratio > 0:
            raise PerceptionError(f"outlier_std_ratio must be > 0, got {self.outlier_std_ratio}")
        self.workspace_min = tuple(float(x) for x in lo)
        self.workspace_max = tuple(float(x) for x in hi)


def check_views(views: Sequence[CameraView], camera_names: Sequence[str] | None = None) -> None:
    """Raise `PerceptionError` unless `views` is a usable, consistent set.

    Checks: at least one view, unique names, the expected names when given, finite calibration, a
    rigid `T_world_cam`, positive focal lengths, segmentation on all views or none.
    """
    if len(views) == 0:
        raise PerceptionError("no camera views given: fusion needs at least one RGB-D view")
    names = [v.name for v in views]
    if len(set(names)) != len(names):
        raise PerceptionError(
            f"duplicate camera names in {names}: each view must come from a distinct camera"
        )
    if camera_names is not None and sorted(names) != sorted(camera_names):
        missing = sorted(set(camera_names) - set(names))
        extra = sorted(set(names) - set(camera_names))
        raise PerceptionError(
            f"views do not match the configured cameras: missing {missing}, unexpected {extra}"
        )
    for v in views:
        if not (np.all(np.isfinite(v.K)) and np.all(np.isfinite(v.T_world_cam))):
            raise PerceptionError(f"{v.name}: K or T_world_cam contains NaN/inf")
        if v.K[0, 0] <= 0 or v.K[1, 1] <= 0:
            raise PerceptionError(f"{v.name}: focal lengths must be > 0, got fx={v.K[0, 0]}, fy={v.K[1, 1]}")
        R = v.T_world_cam[:3, :3].astype(np.float64)
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
            raise PerceptionError(f"{v.name}: T_world_cam rotation is not a proper rotation matrix")
    with_seg = [v.segmentation is not None for v in views]
    if any(with_seg) and not all(with_seg):
        raise PerceptionError(
            f"segmentation present on {[n for n, s in zip(names, with_seg, strict=True) if s]} only: give it on all views or none"
        )


def fuse_views(views: Sequence[CameraView], config: FusionConfig | None = None) -> FeatureCloud:
    """Fuse calibrated RGB-D views into one world-frame cloud.

    Args:
        views: the camera views (any number ≥ 1; the rig has four).
        config: crop box, voxel size and outlier removal; defaults to `FusionConfig()`.

    Returns:
        A `FeatureCloud` with (M, 3) float32 points, (M, 3) uint8 colours, `features=None`, the input
        `views`, and (M,) int32 `object_ids` when every view carries segmentation.

    Raises:
        PerceptionError: missing/mismatched views, a view with no valid depth, or nothing left in the crop.
    """
    import open3d as o3d

    config = config or FusionConfig()
    check_views(views, config.camera_names)
    with_ids = views[0].segmentation is not None
    points, colors, ids = [], [], []
    for view in views:
        if not valid_depth_mask(view.depth).any():
            raise PerceptionError(f"{view.name}: no valid depth pixel (all 0/NaN): check the depth stream")
        pts, flat = backproject(view)
        points.append(pts)
        colors.append(view.rgb.reshape(-1, 3)[flat])
        if with_ids:
            ids.append(view.segmentation.reshape(-1)[flat].astype(np.int32))
    xyz = np.concatenate(points)
    rgb = np.concatenate(colors)
    lo, hi = np.asarray(config.workspace_min), np.asarray(config.workspace_max)
    inside = np.all((xyz >= lo) & (xyz <= hi), axis=1)
    if not inside.any():
        raise PerceptionError(
            f"none of {len(xyz)} back-projected points lies in the workspace {config.workspace_min} .. "
            f"{config.workspace_max}: check the calibration (T_world_cam) and the crop box"
        )
    xyz, rgb = xyz[inside], rgb[inside]
    obj = np.concatenate(ids)[inside] if with_ids else None

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz.astype(np.float64)))
    cloud.colors = o3d.utility.Vector3dVector(rgb.astype(np.float64) / 255.0)
    cloud, trace, _ = cloud.voxel_down_sample_and_trace(config.voxel_size_m, lo, hi, False)
    if obj is not None:
        obj = obj[np.asarray(trace).max(axis=1)]
    if config.outlier_neighbors > 0 and len(cloud.points) > config.outlier_neighbors:
        cloud, kept = cloud.remove_statistical_outlier(config.outlier_neighbors, config.outlier_std_ratio)
        if obj is not None:
            obj = obj[np.asarray(kept, dtype=np.int64)]
    out_xyz = np.asarray(cloud.points, dtype=np.float32)
    out_rgb = np.clip(np.rint(np.asarray(cloud.colors) * 255.0), 0, 255).astype(np.uint8)
    return FeatureCloud(points=out_xyz, colors=out_rgb, views=list(views), object_ids=obj)
