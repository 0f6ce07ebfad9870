"""Simulated RGB-D cameras: poses from config, SAPIEN pictures → `CameraView` (optical frame, metres).

Conventions: SAPIEN's camera entity looks along its +x with +z up; `CameraView.T_world_cam` is the
optical frame (x right, y down, z forward), as ROS and the perception core expect. Depth is
`-Position.z` (SAPIEN's Position picture is in the OpenGL camera frame), 0 where nothing was hit.
Segmentation holds the task's instance ids (`SceneObject.id`), 0 for everything else, via the
per-scene entity id SAPIEN writes in channel 1 of its Segmentation picture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sapien

from codediffuser_perception.types import CameraView

R_SAPIEN_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
"""Columns: the optical frame's x (right), y (down), z (forward) axes in SAPIEN's camera frame."""


@dataclass(frozen=True)
class CameraSpec:
    """One camera: where it is, what it looks at, its field of view and image size.

    Attributes:
        name: "cam0" … (the ROS topic prefix of the sim bridge).
        position: (3,) world position, metres.
        look_at: (3,) world point on the optical axis.
        fovy_deg: vertical field of view in degrees.
        width, height: image size in pixels.
    """

    name: str
    position: tuple[float, float, float]
    look_at: tuple[float, float, float]
    fovy_deg: float = 55.0
    width: int = 160
    height: int = 120

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"{self.name}: image size must be positive, got {self.width}×{self.height}")
        if not 1.0 <= self.fovy_deg <= 170.0:
            raise ValueError(f"{self.name}: fovy_deg must be in [1, 170], got {self.fovy_deg}")
        if np.linalg.norm(np.subtract(self.look_at, self.position)) < 1e-6:
            raise ValueError(f"{self.name}: look_at equals position")

    def T_world_optical(self) -> np.ndarray:
        """(4, 4) pose of the optical frame in the world, z towards `look_at`, image rows downwards."""
        forward = np.subtract(self.look_at, self.position).astype(np.float64)
        forward /= np.linalg.norm(forward)
        up = np.array([0.0, 0.0, 1.0])
        if abs(forward @ up) > 0.999:
            up = np.array([0.0, 1.0, 0.0])
        right = np.cross(forward, up)
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        T = np.eye(4)
        T[:3, :3] = np.stack([right, down, forward], axis=1)
        T[:3, 3] = self.position
        return T


def load_camera_specs(path: Path, width: int | None = None, height: int | None = None) -> list[CameraSpec]:
    """Read `cameras:` from a YAML file (config/cameras_sim.yaml); `width`/`height` override every camera."""
    import yaml

    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, Mapping) or not isinstance(data.get("cameras"), list):
        raise ValueError(f"{path}: expected a mapping with a 'cameras' list")
    specs = []
    for entry in data["cameras"]:
        entry = dict(entry)
        if width is not None:
            entry["width"] = width
        if height is not None:
            entry["height"] = height
        entry["position"] = tuple(entry["position"])
        entry["look_at"] = tuple(entry["look_at"])
        specs.append(CameraSpec(**entry))
    return specs


class CameraRig:
    """Cameras mounted in a SAPIEN scene; `capture` renders all of them into `CameraView`s."""

    def __init__(self, scene: sapien.Scene, specs: list[CameraSpec], near: float = 0.05, far: float = 4.0):
        self.scene = scene
        self.specs = list(specs)
        self.cameras = []
        for spec in self.specs:
            camera = scene.add_camera(
                spec.name, spec.width, spec.height, np.radians(spec.fovy_deg), near, far
            )
            T = spec.T_world_optical()
            T_sapien = T.copy()
            T_sapien[:3, :3] = T[:3, :3] @ R_SAPIEN_OPTICAL.T
            camera.entity.set_pose(sapien.Pose(T_sapien))
            self.cameras.append(camera)

    def capture(self, id_map: Mapping[int, int], stamp: float = 0.0) -> list[CameraView]:
        """Render every camera. `id_map` maps SAPIEN per-scene entity ids to instance ids (others → 0)."""
        self.scene.update_render()
        lut_size = max([0, *id_map.keys()]) + 1
        views = []
        for spec, camera in zip(self.specs, self.cameras, strict=True):
            camera.take_picture()
            rgba = camera.get_picture("Color")
            position = camera.get_picture("Position")
            seg = camera.get_picture("Segmentation")[..., 1].astype(np.int64)
            depth = -position[..., 2]
            depth[position[..., 3] >= 1.0] = 0.0
            lut = np.zeros(max(lut_size, int(seg.max()) + 1), dtype=np.int32)
            for entity_id, instance_id in id_map.items():
                lut[entity_id] = instance_id
            views.append(
                CameraView(
                    name=spec.name,
                    rgb=(np.clip(rgba[..., :3], 0, 1) * 255).astype(np.uint8),
                    depth=depth.astype(np.float32),
                    K=camera.get_intrinsic_matrix(),
                    T_world_cam=spec.T_world_optical(),
                    stamp=stamp,
                    segmentation=lut[seg],
                )
            )
        return views
