"""Simulator oracle features: per-object features derived from segmentation (DESIGN.md §5).

This is an ORACLE, not a perception model: it reads the simulator's ground-truth segmentation. It lets
`detect` and the whole pipeline run in simulation with no weights and no GPU. Each category gets a
fixed random unit vector (seeded by the category name), each object that vector plus a small random
offset of norm `instance_noise` (seeded by its id), renormalised — so instances of one category are
similar but not identical, like real DINOv2 features. Pixels of unknown ids (table, background) get the
"background" category's vector.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from codediffuser_perception.references import ReferenceStore
from codediffuser_perception.types import CameraView, PerceptionError

BACKGROUND = "background"
"""Category of every segmentation id that is not a known object."""


@dataclasses.dataclass
class OracleFeatureMaps:
    """Nearest-pixel segmentation lookup into a per-object feature table.

    Attributes:
        segmentations: the views' (H, W) int32 object ids.
        ids: (K,) sorted known object ids.
        table: (K + 1, D) float32 features of `ids`, then the background feature last.
    """

    segmentations: list[np.ndarray]
    ids: np.ndarray
    table: np.ndarray

    @property
    def feature_dim(self) -> int:
        return int(self.table.shape[1])

    def sample(self, view_index: int, uv: np.ndarray) -> np.ndarray:
        seg = self.segmentations[view_index]
        uv = np.asarray(uv, np.float64).reshape(-1, 2)
        col = np.clip(np.rint(uv[:, 0]).astype(np.int64), 0, seg.shape[1] - 1)
        row = np.clip(np.rint(uv[:, 1]).astype(np.int64), 0, seg.shape[0] - 1)
        return self.table[self.rows(seg[row, col])]

    def rows(self, object_ids: np.ndarray) -> np.ndarray:
        """Row of `table` for each object id (the background row for unknown ids)."""
        if len(self.ids) == 0:
            return np.zeros(np.shape(object_ids), np.int64)
        pos = np.clip(np.searchsorted(self.ids, object_ids), 0, len(self.ids) - 1)
        return np.where(self.ids[pos] == object_ids, pos, len(self.ids))


class OracleFeatureExtractor:
    """`FeatureExtractor` that reads segmentation instead of pixels (simulator only).

    Args:
        categories: object id → category name, for every object the simulator segments.
        feature_dim: length of the feature vectors.
        seed: changes every vector (categories and instances) at once.
        instance_noise: norm of the per-instance offset added to the category vector (0 = identical).
    """

    def __init__(
        self, categories: Mapping[int, str], feature_dim: int = 32, seed: int = 0, instance_noise: float = 0.1
    ) -> None:
        if feature_dim < 2:
            raise PerceptionError(f"feature_dim must be >= 2, got {feature_dim}")
        if instance_noise < 0:
            raise PerceptionError(f"instance_noise must be >= 0, got {instance_noise}")
        self.categories = {int(k): str(v) for k, v in categories.items()}
        self.feature_dim = feature_dim
        self.seed = seed
        self.instance_noise = instance_noise

    def category_feature(self, category: str) -> np.ndarray:
        """(D,) float32 unit vector of a category: the ideal reference feature."""
        rng = np.random.default_rng([self.seed, zlib.crc32(category.encode())])
        v = rng.standard_normal(self.feature_dim)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def references(self, categories: Sequence[str] | None = None) -> ReferenceStore:
        """A reference store holding the ideal feature of `categories` (default: every known category)."""
        store = ReferenceStore()
        for category in sorted(set(self.categories.values()) if categories is None else categories):
            store.add(category, self.category_feature(category), backend=f"oracle:seed={self.seed}")
        return store

    def object_feature(self, object_id: int) -> np.ndarray:
        """(D,) float32 unit feature of one object (its category's vector plus its own offset)."""
        category = self.categories.get(int(object_id), BACKGROUND)
        offset = np.random.default_rng([self.seed, 1, int(object_id) & 0xFFFFFFFF]).standard_normal(
            self.feature_dim
        )
        v = self.category_feature(category) + self.instance_noise * offset / np.linalg.norm(offset)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def extract(self, views: Sequence[CameraView]) -> OracleFeatureMaps:
        missing = [v.name for v in views if v.segmentation is None]
        if missing:
            raise PerceptionError(f"the oracle feature backend needs segmentation; views {missing} have none")
        ids = np.array(sorted(self.categories), dtype=np.int64)
        rows = [self.object_feature(i) for i in ids] + [self.category_feature(BACKGROUND)]
        table = np.stack(rows).astype(np.float32).reshape(len(rows), self.feature_dim)
        return OracleFeatureMaps(segmentations=[v.segmentation for v in views], ids=ids, table=table)
