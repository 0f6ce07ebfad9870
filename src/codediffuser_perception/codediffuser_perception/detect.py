"""`detect(category)`: reference-feature similarity + DBSCAN → instances (the paper's detection step).

For every cloud point, the cosine similarity of its feature to the category's reference feature is
min-max normalised over the cloud; points above `threshold` are clustered in 3D with DBSCAN; clusters
smaller than `min_cluster_fraction` of the largest are dropped as noise. Instances are ordered by
centroid x, then y (left to right, then front to back in the world frame of docs/instructions.md), so
the same scene always yields the same ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from codediffuser_perception.types import FeatureCloud, Instance, PerceptionError


@dataclass
class DetectConfig:
    """Detection thresholds.

    Attributes:
        threshold: minimum min-max-normalised similarity of a candidate point, in (0, 1].
        eps_m: DBSCAN neighbourhood radius in metres (a bit above the fusion voxel size).
        min_samples: DBSCAN core-point neighbour count.
        min_cluster_fraction: clusters with fewer points than this fraction of the largest are dropped.
    """

    threshold: float = 0.85
    eps_m: float = 0.015
    min_samples: int = 5
    min_cluster_fraction: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise PerceptionError(f"threshold must be in (0, 1], got {self.threshold}")
        if not self.eps_m > 0:
            raise PerceptionError(f"eps_m must be > 0, got {self.eps_m}")
        if self.min_samples < 1:
            raise PerceptionError(f"min_samples must be >= 1, got {self.min_samples}")
        if not 0 <= self.min_cluster_fraction <= 1:
            raise PerceptionError(f"min_cluster_fraction must be in [0, 1], got {self.min_cluster_fraction}")


def similarity(cloud: FeatureCloud, reference: np.ndarray) -> np.ndarray:
    """(M,) min-max normalised cosine similarity of each point's feature to `reference`, in [0, 1].

    Raises:
        PerceptionError: the cloud has no features or `reference` has the wrong length.
    """
    if cloud.features is None:
        raise PerceptionError("the cloud has no features: run features.fuse_features first")
    reference = np.asarray(reference, np.float64).reshape(-1)
    if reference.shape != (cloud.features.shape[1],):
        raise PerceptionError(
            f"reference feature has dimension {reference.shape[0]}, the cloud's features have "
            f"{cloud.features.shape[1]}: was it made with another extractor?"
        )
    norm = np.linalg.norm(reference)
    if norm < 1e-12:
        raise PerceptionError("reference feature is zero")
    feats = cloud.features
    lengths = np.sqrt(np.einsum("md,md->m", feats, feats))
    cos = (feats @ (reference / norm).astype(feats.dtype)).astype(np.float64) / np.maximum(lengths, 1e-12)
    lo, hi = cos.min(initial=0.0), cos.max(initial=0.0)
    if len(cos) == 0 or hi - lo < 1e-9:
        return np.zeros(len(cos))
    return (cos - lo) / (hi - lo)


def detect(
    cloud: FeatureCloud,
    references: Mapping[str, np.ndarray],
    category: str,
    config: DetectConfig | None = None,
) -> list[Instance]:
    """All instances of `category` in the cloud.

    Args:
        cloud: a fused cloud with features (`features.fuse_features`).
        references: category → (D,) reference feature (a `references.ReferenceStore` or a plain dict).
        category: the category to find.
        config: thresholds; defaults to `DetectConfig()`.

    Returns:
        Instances ordered by centroid (x, then y), ids 0..K-1; `score` is the mean normalised similarity
        of the instance's points; when the cloud carries simulator `object_ids`, `metadata["object_id"]`
        is the most frequent id among its points. Empty when no cluster survives (nothing of that
        category is visible).

    Raises:
        PerceptionError: unknown category, wrong reference dimension, or a cloud without features.
    """
    from sklearn.cluster import DBSCAN

    config = config or DetectConfig()
    if category not in references:
        raise PerceptionError(
            f"unknown category {category!r}: no reference feature (known: {sorted(references)}); "
            "label it with `codediffuser annotate`"
        )
    score = similarity(cloud, references[category])
    candidates = np.flatnonzero(score >= config.threshold)
    if len(candidates) == 0:
        return []
    labels = DBSCAN(eps=config.eps_m, min_samples=config.min_samples).fit_predict(cloud.points[candidates])
    kept = labels >= 0
    candidates, labels = candidates[kept], labels[kept]
    if len(labels) == 0:
        return []
    sizes = np.bincount(labels)
    clusters = np.flatnonzero(sizes >= config.min_cluster_fraction * sizes.max())
    found = []
    for label in clusters:
        indices = np.sort(candidates[labels == label]).astype(np.int64)
        pts = cloud.points[indices]
        metadata = {}
        if cloud.object_ids is not None:
            ids, counts = np.unique(cloud.object_ids[indices], return_counts=True)
            metadata["object_id"] = str(int(ids[np.argmax(counts)]))
        found.append(
            Instance(
                id=-1,
                category=category,
                indices=indices,
                centroid=pts.mean(axis=0).astype(np.float32),
                bbox_min=pts.min(axis=0).astype(np.float32),
                bbox_max=pts.max(axis=0).astype(np.float32),
                score=float(score[indices].mean()),
                metadata=metadata,
            )
        )
    found.sort(key=lambda inst: (float(inst.centroid[0]), float(inst.centroid[1])))
    for i, inst in enumerate(found):
        inst.id = i
    return found


@dataclass
class Detector:
    """`detect` bound to a reference store: the `(cloud, category) -> instances` backend of the code generator.

    Attributes:
        references: category → reference feature.
        config: detection thresholds.
    """

    references: Mapping[str, np.ndarray]
    config: DetectConfig = field(default_factory=DetectConfig)

    def __call__(self, cloud: FeatureCloud, category: str) -> list[Instance]:
        return detect(cloud, self.references, category, self.config)
