"""3D attention: selected instances → per-point attention in [0, 1] (the policy's 4th input channel).

`compute_attention` projects each selected instance into every view, asks a mask predictor for its 2D
masks (box prompts), and lifts the masks back onto the cloud: a point is attended for an instance when
it is visible and inside that instance's mask in at least `min_views` views and in at least
`min_view_fraction` of the prompted views where it is visible. The attended set is then dilated by
`dilation_m` (16 mm; a KD-tree radius query) so that the policy sees a small margin around the object.
Each instance contributes its `value` (default 1.0); overlaps take the maximum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from codediffuser_perception.camera import pixel_lookup
from codediffuser_perception.masks import MaskPredictor, instance_prompts
from codediffuser_perception.types import Attention, FeatureCloud, Instance, PerceptionError


@dataclass
class AttentionConfig:
    """How masks become 3D attention.

    Attributes:
        pad_px: box prompt padding in pixels.
        visibility_tol_m: a point is visible in a view when |projected − observed depth| is below this.
        min_visible_points: an instance is prompted in a view when at least this many of its points are visible.
        min_views: a point needs to be inside the mask in at least this many views.
        min_view_fraction: ... and in at least this fraction of the prompted views where it is visible.
        dilation_m: radius by which the attended set is grown, in metres (0 disables).
    """

    pad_px: float = 10.0
    visibility_tol_m: float = 0.02
    min_visible_points: int = 5
    min_views: int = 1
    min_view_fraction: float = 0.5
    dilation_m: float = 0.016

    def __post_init__(self) -> None:
        if self.pad_px < 0:
            raise PerceptionError(f"pad_px must be >= 0, got {self.pad_px}")
        if not self.visibility_tol_m > 0:
            raise PerceptionError(f"visibility_tol_m must be > 0, got {self.visibility_tol_m}")
        if self.min_visible_points < 1 or self.min_views < 1:
            raise PerceptionError(
                f"min_visible_points and min_views must be >= 1, got {self.min_visible_points}, {self.min_views}"
            )
        if not 0 < self.min_view_fraction <= 1:
            raise PerceptionError(f"min_view_fraction must be in (0, 1], got {self.min_view_fraction}")
        if self.dilation_m < 0:
            raise PerceptionError(f"dilation_m must be >= 0, got {self.dilation_m}")


def dilate(points: np.ndarray, selected: np.ndarray, radius_m: float) -> np.ndarray:
    """(M,) bool: points within `radius_m` of any `selected` point (KD-tree nearest-neighbour query)."""
    from scipy.spatial import cKDTree

    if radius_m <= 0 or not selected.any():
        return selected.copy()
    distance, _ = cKDTree(points[selected]).query(points, k=1, distance_upper_bound=radius_m)
    return np.isfinite(distance)


def ground_truth_attention(
    cloud: FeatureCloud,
    object_ids: Sequence[int],
    dilation_m: float = AttentionConfig.dilation_m,
    values: Sequence[float] | None = None,
) -> Attention:
    """Attention from simulator labels: the points of each object (in attend() order), dilated as above.

    What `compute_attention` approximates from masks; the simulator's recorder stores it as the
    demonstration's attention so that training targets and inference share one definition.

    Raises:
        PerceptionError: the cloud has no `object_ids`, or bad `values`.
    """
    if cloud.object_ids is None:
        raise PerceptionError("ground-truth attention needs the cloud's simulator object_ids")
    values = [1.0] * len(object_ids) if values is None else [float(x) for x in values]
    if len(values) != len(object_ids) or any(not 0 < x <= 1 for x in values):
        raise PerceptionError(f"values must give one number in (0, 1] per object, got {values}")
    attention = np.zeros(len(cloud), np.float32)
    for object_id, value in zip(object_ids, values, strict=True):
        attended = dilate(cloud.points, cloud.object_ids == object_id, dilation_m)
        attention = np.maximum(attention, np.where(attended, value, 0.0).astype(np.float32))
    return Attention(attention)


def compute_attention(
    cloud: FeatureCloud,
    instances: Sequence[Instance],
    predictor: MaskPredictor,
    config: AttentionConfig | None = None,
    values: Sequence[float] | None = None,
) -> Attention:
    """Per-point attention of the selected instances (attend() order), aligned with `cloud.points`.

    Args:
        cloud: the fused cloud the instances index into, with its views.
        instances: the attended instances; an empty list gives all-zero attention.
        predictor: the mask backend (SAM, segment-anything or the simulator oracle).
        config: thresholds; defaults to `AttentionConfig()`.
        values: per-instance attention value in (0, 1] (default 1.0 each), e.g. to tell roles apart.

    Returns:
        `Attention` with (M,) values. An instance visible in no view (no prompt anywhere) falls back
        to its own detected points, dilated.

    Raises:
        PerceptionError: an instance indexes outside the cloud, bad `values`, or the cloud has no views.
    """
    config = config or AttentionConfig()
    m = len(cloud)
    values = [1.0] * len(instances) if values is None else [float(x) for x in values]
    if len(values) != len(instances) or any(not 0 < x <= 1 for x in values):
        raise PerceptionError(f"values must give one number in (0, 1] per instance, got {values}")
    for inst in instances:
        if len(inst.indices) == 0 or inst.indices.min() < 0 or inst.indices.max() >= m:
            raise PerceptionError(
                f"instance {inst.id} ({inst.category}) does not index into this cloud of {m} points"
            )
    attention = np.zeros(m, np.float32)
    if not instances:
        return Attention(attention)
    if not cloud.views:
        raise PerceptionError("the cloud carries no camera views: masks are predicted on its views")
    prompts = instance_prompts(
        cloud, instances, config.pad_px, config.visibility_tol_m, config.min_visible_points
    )
    masks = predictor.predict(cloud.views, prompts)  # (V, K, H, W)
    inside = np.zeros((len(instances), m), np.int32)
    visible = np.zeros((len(instances), m), np.int32)
    for v, view in enumerate(cloud.views):
        hit = pixel_lookup(cloud.points, view)
        seen = hit.depth_gap < config.visibility_tol_m
        for k in range(len(instances)):
            if prompts[v][k] is None:
                continue
            visible[k] += seen
            inside[k] += seen & masks[v, k].reshape(-1)[hit.flat]
    for k, inst in enumerate(instances):
        if not any(prompts[v][k] is not None for v in range(len(cloud.views))):
            attended = np.zeros(m, bool)
            attended[inst.indices] = True
        else:
            attended = (inside[k] >= config.min_views) & (inside[k] >= config.min_view_fraction * visible[k])
        attended = dilate(cloud.points, attended, config.dilation_m)
        attention = np.maximum(attention, np.where(attended, values[k], 0.0).astype(np.float32))
    return Attention(attention)
