"""Attention that follows moving objects (DESIGN.md §1): track the selected instances cloud to cloud.

The program runs once per instruction; the policy then runs closed-loop for hundreds of steps while
the objects move. Our default: on each new cloud, re-`detect` the categories of the selected instances
and match each previous instance to one new candidate of its category by minimum cost
  cost = |Δcentroid| / max_jump_m + feature_weight · (1 − cos(signature_prev, signature_new)),
where a signature is the instance's mean point feature; pairs farther apart than `max_jump_m` are not
allowed, and the assignment is optimal over all instances of a category (Hungarian, scipy). Then the
attention is recomputed on the new cloud with the matched instances (`AttentionTracker.update`).
The real-weights alternative (the official release) tracks 2D masks with a video segmentation model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from codediffuser_perception.attention import AttentionConfig, compute_attention
from codediffuser_perception.detect import DetectConfig, detect
from codediffuser_perception.masks import MaskPredictor
from codediffuser_perception.types import Attention, FeatureCloud, Instance, PerceptionError

_INFEASIBLE = 1e6


class TrackingLostError(PerceptionError):
    """A selected instance has no match on the new cloud (occluded, left the workspace, or moved too far)."""


@dataclass
class TrackConfig:
    """Matching of selected instances between consecutive clouds.

    Attributes:
        max_jump_m: largest centroid displacement between two clouds in metres.
        feature_weight: weight of the feature dissimilarity against the normalised distance.
        detect: detection settings used on the new cloud.
    """

    max_jump_m: float = 0.08
    feature_weight: float = 0.5
    detect: DetectConfig = field(default_factory=DetectConfig)

    def __post_init__(self) -> None:
        if not self.max_jump_m > 0:
            raise PerceptionError(f"max_jump_m must be > 0, got {self.max_jump_m}")
        if self.feature_weight < 0:
            raise PerceptionError(f"feature_weight must be >= 0, got {self.feature_weight}")


def signature(cloud: FeatureCloud, instance: Instance) -> np.ndarray:
    """(D,) unit mean feature of an instance's points."""
    if cloud.features is None:
        raise PerceptionError("the cloud has no features: run features.fuse_features first")
    mean = cloud.features[instance.indices].astype(np.float64).mean(axis=0)
    return mean / max(np.linalg.norm(mean), 1e-12)


def track_instances(
    previous: Sequence[Instance],
    previous_cloud: FeatureCloud,
    new_cloud: FeatureCloud,
    references: Mapping[str, np.ndarray],
    config: TrackConfig | None = None,
) -> list[Instance]:
    """The instances of `new_cloud` that continue `previous` (same order, ids and metadata kept).

    Raises:
        TrackingLostError: an instance has no candidate within `max_jump_m`.
        PerceptionError: clouds without features, unknown category.
    """
    from scipy.optimize import linear_sum_assignment

    config = config or TrackConfig()
    tracked: list[Instance | None] = [None] * len(previous)
    for category in sorted({inst.category for inst in previous}):
        rows = [i for i, inst in enumerate(previous) if inst.category == category]
        candidates = detect(new_cloud, references, category, config.detect)
        if not candidates:
            raise TrackingLostError(
                f"no {category!r} detected on the new cloud: cannot follow instance(s) {rows}"
            )
        prev_centroids = np.stack([previous[i].centroid for i in rows]).astype(np.float64)
        new_centroids = np.stack([c.centroid for c in candidates]).astype(np.float64)
        distance = np.linalg.norm(prev_centroids[:, None] - new_centroids[None], axis=2)
        prev_sig = np.stack([signature(previous_cloud, previous[i]) for i in rows])
        new_sig = np.stack([signature(new_cloud, c) for c in candidates])
        cost = distance / config.max_jump_m + config.feature_weight * (1.0 - prev_sig @ new_sig.T)
        cost[distance > config.max_jump_m] = _INFEASIBLE
        matched_rows, matched_cols = linear_sum_assignment(cost)
        for r, c in zip(matched_rows, matched_cols, strict=True):
            if cost[r, c] < _INFEASIBLE:
                prev = previous[rows[r]]
                cand = candidates[c]
                tracked[rows[r]] = replace(cand, id=prev.id, metadata={**prev.metadata, **cand.metadata})
    lost = [f"#{previous[i].id} {previous[i].category}" for i, t in enumerate(tracked) if t is None]
    if lost:
        raise TrackingLostError(f"lost {', '.join(lost)}: no candidate within {config.max_jump_m} m")
    return [t for t in tracked if t is not None]


class AttentionTracker:
    """Closed-loop attention: `start` with the program's selection, then `update` on every new cloud.

    Args:
        references: category → reference feature (for re-detection).
        predictor: mask backend for `compute_attention`.
        attention_config, track_config: settings (defaults when None).
    """

    def __init__(
        self,
        references: Mapping[str, np.ndarray],
        predictor: MaskPredictor,
        attention_config: AttentionConfig | None = None,
        track_config: TrackConfig | None = None,
    ) -> None:
        self.references = references
        self.predictor = predictor
        self.attention_config = attention_config or AttentionConfig()
        self.track_config = track_config or TrackConfig()
        self.instances: list[Instance] = []
        self.values: list[float] | None = None
        self._cloud: FeatureCloud | None = None

    def start(
        self, cloud: FeatureCloud, instances: Sequence[Instance], values: Sequence[float] | None = None
    ) -> Attention:
        """Attention of the program's selection on the cloud it was selected on."""
        self.instances = list(instances)
        self.values = None if values is None else list(values)
        self._cloud = cloud
        return compute_attention(cloud, self.instances, self.predictor, self.attention_config, self.values)

    def update(self, cloud: FeatureCloud) -> Attention:
        """Follow the selection onto a new cloud and recompute its attention (raises `TrackingLostError`)."""
        if self._cloud is None:
            raise PerceptionError("AttentionTracker.update called before start")
        self.instances = track_instances(
            self.instances, self._cloud, cloud, self.references, self.track_config
        )
        self._cloud = cloud
        return compute_attention(cloud, self.instances, self.predictor, self.attention_config, self.values)
