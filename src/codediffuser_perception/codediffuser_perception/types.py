"""Core data types shared by every package (DESIGN.md §3).

Plain dataclasses over numpy arrays: world frame, metres, float32. They carry no ROS types, so the
cores, the simulator and the tests exchange them directly; the node modules convert at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class PerceptionError(ValueError):
    """Bad perception input or an impossible request; the message says what to fix."""


@dataclass
class CameraView:
    """One RGB-D camera frame with its calibration.

    Attributes:
        name: camera name, e.g. "cam0" (matches config/cameras.yaml and the ROS topic prefix).
        rgb: (H, W, 3) uint8 colour image.
        depth: (H, W) float32 depth in metres along the optical axis, aligned to `rgb`; 0 or NaN = invalid.
        K: (3, 3) float32 pinhole intrinsics of the colour camera.
        T_world_cam: (4, 4) float32 pose of the optical frame (x right, y down, z forward) in world.
        stamp: acquisition time in seconds.
        segmentation: optional (H, W) int32 per-pixel object ids (simulator only; the oracle backends).
    """

    name: str
    rgb: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    T_world_cam: np.ndarray
    stamp: float = 0.0
    segmentation: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise PerceptionError(
                f"{self.name}: rgb must be (H, W, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}"
            )
        if self.depth.shape != self.rgb.shape[:2]:
            raise PerceptionError(
                f"{self.name}: depth {self.depth.shape} is not aligned with rgb {self.rgb.shape[:2]}"
            )
        if self.K.shape != (3, 3) or self.T_world_cam.shape != (4, 4):
            raise PerceptionError(
                f"{self.name}: K must be (3, 3) and T_world_cam (4, 4), got {self.K.shape}, {self.T_world_cam.shape}"
            )
        if self.segmentation is not None and self.segmentation.shape != self.rgb.shape[:2]:
            raise PerceptionError(
                f"{self.name}: segmentation {self.segmentation.shape} is not aligned with rgb"
            )
        self.depth = self.depth.astype(np.float32, copy=False)
        self.K = self.K.astype(np.float32, copy=False)
        self.T_world_cam = self.T_world_cam.astype(np.float32, copy=False)

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


@dataclass
class FeatureCloud:
    """A fused point cloud with optional per-point features, in the world frame.

    Attributes:
        points: (M, 3) float32 positions.
        colors: (M, 3) uint8 colours.
        features: (M, D) float32 per-point features (L2-normalised), or None before feature fusion.
        views: the camera views it was fused from (needed for masks and the composite image).
        object_ids: optional (M,) int32 simulator object id per point (oracle backends only).
    """

    points: np.ndarray
    colors: np.ndarray
    features: np.ndarray | None = None
    views: list[CameraView] = field(default_factory=list)
    object_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        m = len(self.points)
        if self.points.ndim != 2 or self.points.shape[1] != 3:
            raise PerceptionError(f"points must be (M, 3), got {self.points.shape}")
        if self.colors.shape != (m, 3):
            raise PerceptionError(f"colors must be ({m}, 3), got {self.colors.shape}")
        if self.features is not None and (self.features.ndim != 2 or len(self.features) != m):
            raise PerceptionError(f"features must be ({m}, D), got {self.features.shape}")
        if self.object_ids is not None and self.object_ids.shape != (m,):
            raise PerceptionError(f"object_ids must be ({m},), got {self.object_ids.shape}")
        self.points = self.points.astype(np.float32, copy=False)
        self.colors = self.colors.astype(np.uint8, copy=False)

    def __len__(self) -> int:
        return len(self.points)


@dataclass
class Instance:
    """One detected object instance: a subset of a `FeatureCloud`'s points.

    Attributes:
        id: stable id within one observation (detect's deterministic order).
        category: the reference category it was detected as.
        indices: (K,) int64 rows of the cloud.
        centroid, bbox_min, bbox_max: (3,) float32, world frame.
        score: mean normalised similarity to the reference, in [0, 1].
        metadata: attributes known about it (simulator: name, colour, side...); `sel_name`'s offline
            matcher reads these, a VLM reads the composite image instead.
    """

    id: int
    category: str
    indices: np.ndarray
    centroid: np.ndarray
    bbox_min: np.ndarray
    bbox_max: np.ndarray
    score: float = 1.0
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Attention:
    """Per-point 3D attention in [0, 1], aligned with `FeatureCloud.points` (the policy's 4th channel)."""

    values: np.ndarray

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.ndim != 1:
            raise PerceptionError(f"attention must be (M,), got {self.values.shape}")
        if (
            not np.all(np.isfinite(self.values))
            or self.values.min(initial=0) < 0
            or self.values.max(initial=0) > 1
        ):
            raise PerceptionError("attention values must be finite and in [0, 1]")


ARM_ACTION_DIM = 10
"""Per arm: xyz (3, metres, arm base frame) + 6D rotation (6, first two columns of R) + gripper (1)."""
ACTION_DIM = 2 * ARM_ACTION_DIM
"""Both arms, left first: the policy's action vector."""


@dataclass
class ActionChunk:
    """A sequence of bimanual end-effector targets predicted by the policy.

    Attributes:
        actions: (T, 20) float32; per arm (left then right) [xyz(3), rot6d(6), gripper(1)] with xyz in
            that arm's base frame (metres) and gripper normalised to [0 closed, 1 open], so that the
            simulator and the real ALOHA share checkpoints (DESIGN.md §6).
        dt_s: time between consecutive targets in seconds.
    """

    actions: np.ndarray
    dt_s: float = 0.1

    def __post_init__(self) -> None:
        self.actions = np.asarray(self.actions, dtype=np.float32)
        if self.actions.ndim != 2 or self.actions.shape[1] != ACTION_DIM:
            raise ValueError(f"actions must be (T, {ACTION_DIM}), got {self.actions.shape}")
        if not np.all(np.isfinite(self.actions)):
            raise ValueError("actions contain NaN or inf")
        if self.dt_s <= 0:
            raise ValueError(f"dt_s must be > 0, got {self.dt_s}")

    def arm(self, side: str) -> np.ndarray:
        """The (T, 10) slice of one arm, `side` in {"left", "right"}."""
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        start = 0 if side == "left" else ARM_ACTION_DIM
        return self.actions[:, start : start + ARM_ACTION_DIM]
