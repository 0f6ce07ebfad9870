"""A synthetic table-top scene with known answers, rendered analytically (open3d ray casting).

Used by the perception tests and `benchmarks/perception.py`: boxes of known pose and category on a
table, seen by virtual RGB-D cameras placed around it. Depth is exact (ray hit along the optical axis),
segmentation is per box (`object_id`, 0 = table), colours are flat per box. Nothing here is used at
run time by the robot stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from codediffuser_perception.geometry import make_pose
from codediffuser_perception.types import CameraView

TABLE_ID = 0
"""Segmentation id of the table top."""


@dataclass
class Box:
    """An axis-aligned (up to a yaw about z) box standing on the table.

    Attributes:
        object_id: its segmentation id (≥ 1).
        category: its category name, e.g. "battery".
        center: (x, y, z) world centre in metres.
        size: (sx, sy, sz) edge lengths in metres.
        color: (3,) uint8 RGB.
        yaw: rotation about world z in radians.
    """

    object_id: int
    category: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    color: tuple[int, int, int]
    yaw: float = 0.0

    def pose(self) -> np.ndarray:
        """(4, 4) world pose of the box centre."""
        return make_pose(Rotation.from_euler("z", self.yaw).as_matrix(), np.asarray(self.center))

    def contains(self, points: np.ndarray, margin_m: float = 0.0) -> np.ndarray:
        """(M,) bool: points inside the box grown by `margin_m` on every side."""
        T = self.pose()
        local = (np.asarray(points, np.float64) - T[:3, 3]) @ T[:3, :3]
        return np.all(np.abs(local) <= np.asarray(self.size) / 2 + margin_m, axis=1)


@dataclass
class SyntheticScene:
    """A table (1.0 × 0.8 m, top at z = 0) with boxes on it."""

    boxes: list[Box]
    table_size: tuple[float, float, float] = (1.0, 0.8, 0.02)
    table_color: tuple[int, int, int] = (120, 100, 80)
    _scene: object = field(default=None, init=False, repr=False)
    _ids: np.ndarray = field(default=None, init=False, repr=False)
    _colors: np.ndarray = field(default=None, init=False, repr=False)

    def _raycaster(self):
        import open3d as o3d

        if self._scene is None:
            scene = o3d.t.geometry.RaycastingScene()
            solids = [(TABLE_ID, (0.0, 0.0, -self.table_size[2] / 2), self.table_size, 0.0, self.table_color)]
            solids += [(b.object_id, b.center, b.size, b.yaw, b.color) for b in self.boxes]
            ids, colors = [], []
            for object_id, center, size, yaw, color in solids:
                mesh = o3d.geometry.TriangleMesh.create_box(*size)
                mesh.translate(-np.asarray(size) / 2)
                mesh.transform(make_pose(Rotation.from_euler("z", yaw).as_matrix(), np.asarray(center)))
                scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
                ids.append(object_id)
                colors.append(color)
            self._scene, self._ids, self._colors = scene, np.asarray(ids), np.asarray(colors, np.uint8)
        return self._scene

    def render(
        self, name: str, K: np.ndarray, T_world_cam: np.ndarray, width: int, height: int
    ) -> CameraView:
        """Ray-cast one RGB-D view with segmentation (pixels that hit nothing get depth 0)."""
        import open3d as o3d

        scene = self._raycaster()
        v, u = np.mgrid[0:height, 0:width].astype(np.float64)
        dirs_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
        dirs = dirs_cam.reshape(-1, 3) @ T_world_cam[:3, :3].T  # z-component 1 in the optical frame
        origins = np.broadcast_to(T_world_cam[:3, 3], dirs.shape)
        rays = o3d.core.Tensor(np.concatenate([origins, dirs], axis=1).astype(np.float32))
        hit = scene.cast_rays(rays)
        t = hit["t_hit"].numpy()  # parametric along an optical-z-normalised ray = depth in metres
        geom = hit["geometry_ids"].numpy().astype(np.int64)
        valid = np.isfinite(t)
        depth = np.where(valid, t, 0.0).astype(np.float32).reshape(height, width)
        safe = np.where(valid, geom, 0)
        seg = np.where(valid, self._ids[safe], -1).astype(np.int32).reshape(height, width)
        rgb = np.where(valid[:, None], self._colors[safe], 0).astype(np.uint8).reshape(height, width, 3)
        return CameraView(name=name, rgb=rgb, depth=depth, K=K, T_world_cam=T_world_cam, segmentation=seg)

    def surface_distance(self, points: np.ndarray) -> np.ndarray:
        """(M,) unsigned distance in metres from each point to the nearest scene surface."""
        import open3d as o3d

        query = o3d.core.Tensor(np.asarray(points, np.float32))
        return self._raycaster().compute_distance(query).numpy()


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4, 4) optical-frame pose (x right, y down, z forward) at `eye` looking at `target`, world z up."""
    z = np.asarray(target, np.float64) - np.asarray(eye, np.float64)
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return make_pose(np.stack([x, y, z], axis=1), np.asarray(eye, np.float64))


def intrinsics(width: int, height: int, hfov_deg: float = 60.0) -> np.ndarray:
    """(3, 3) pinhole K with square pixels and the principal point at the image centre."""
    f = (width / 2) / np.tan(np.deg2rad(hfov_deg) / 2)
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]], dtype=np.float64)


def four_view_rig(
    scene: SyntheticScene, width: int = 160, height: int = 120, radius_m: float = 0.6, height_m: float = 0.5
) -> list[CameraView]:
    """Render the scene from four cameras on a circle around the table centre (cam0 at −y, the operator)."""
    K = intrinsics(width, height)
    views = []
    for i, angle in enumerate(np.deg2rad([-90.0, 0.0, 90.0, 180.0])):
        eye = np.array([radius_m * np.cos(angle), radius_m * np.sin(angle), height_m])
        views.append(scene.render(f"cam{i}", K, look_at(eye, np.zeros(3)), width, height))
    return views


def two_category_scene() -> SyntheticScene:
    """Three boxes of two categories: two red "battery" boxes and one blue "mug" box."""
    return SyntheticScene(
        boxes=[
            Box(1, "battery", (-0.15, 0.05, 0.04), (0.04, 0.04, 0.08), (200, 30, 30)),
            Box(2, "battery", (0.12, 0.08, 0.04), (0.04, 0.04, 0.08), (200, 30, 30), yaw=0.5),
            Box(3, "mug", (0.0, -0.12, 0.05), (0.08, 0.08, 0.1), (30, 30, 200)),
        ]
    )
