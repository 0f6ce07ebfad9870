"""Per-category reference features: the paper's lightweight labelling step, stored and loaded.

`detect(category)` compares every cloud feature with one reference vector per category. A reference is
the mean feature over a user-labelled region (mask or box) of one image, L2-normalised.

On disk, a store is a directory with two files per category: `<category>.npz` (array `feature`, (D,)
float32) and `<category>.json` (category, feature_dim, backend, source, n_pixels). Writing a category
replaces only that category's two files, so categories can be labelled one at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from codediffuser_perception.features import FeatureMaps
from codediffuser_perception.types import PerceptionError

_CATEGORY = re.compile(r"^[a-z0-9_]+$")


@dataclass
class ReferenceInfo:
    """Where a reference feature came from (the json half of a stored reference).

    Attributes:
        category: the category name (lower-case letters, digits, underscores).
        feature_dim: D, the feature length; must match the extractor used at detection time.
        backend: the extractor that produced it, e.g. "dinov2:facebook/dinov2-small" or "oracle".
        source: the labelled image or observation, for provenance.
        n_pixels: how many pixels were averaged.
    """

    category: str
    feature_dim: int
    backend: str
    source: str = ""
    n_pixels: int = 0


def check_category(category: str) -> str:
    """Return `category` if it is a valid name (it becomes a file name), else raise `PerceptionError`."""
    if not isinstance(category, str) or not _CATEGORY.match(category):
        raise PerceptionError(f"category names are lower-case letters, digits and '_', got {category!r}")
    return category


def reference_from_mask(maps: FeatureMaps, view_index: int, mask: np.ndarray) -> np.ndarray:
    """(D,) float32 unit mean feature of view `view_index` over the True pixels of an (H, W) `mask`."""
    mask = np.asarray(mask, bool)
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        raise PerceptionError("the reference mask is empty: label at least one pixel of the object")
    mean = maps.sample(view_index, np.stack([cols, rows], axis=1)).astype(np.float64).mean(axis=0)
    norm = np.linalg.norm(mean)
    if norm < 1e-12:
        raise PerceptionError("the mean feature over the mask is zero; cannot use it as a reference")
    return (mean / norm).astype(np.float32)


class ReferenceStore(Mapping[str, np.ndarray]):
    """Category → (D,) unit reference feature, with provenance in `info[category]`."""

    def __init__(self) -> None:
        self._features: dict[str, np.ndarray] = {}
        self.info: dict[str, ReferenceInfo] = {}

    def __getitem__(self, category: str) -> np.ndarray:
        try:
            return self._features[category]
        except KeyError:
            raise PerceptionError(
                f"no reference feature for category {category!r}; known: {sorted(self._features)}. "
                "Label it with `codediffuser annotate`."
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._features))

    def __len__(self) -> int:
        return len(self._features)

    def add(
        self, category: str, feature: np.ndarray, backend: str, source: str = "", n_pixels: int = 0
    ) -> None:
        """Add or replace one category's reference (normalised here)."""
        check_category(category)
        feature = np.asarray(feature, np.float64).reshape(-1)
        norm = np.linalg.norm(feature)
        if not np.all(np.isfinite(feature)) or norm < 1e-12:
            raise PerceptionError(f"reference for {category!r} must be a finite non-zero vector")
        self._features[category] = (feature / norm).astype(np.float32)
        self.info[category] = ReferenceInfo(category, len(feature), backend, source, int(n_pixels))

    def save(self, directory: str | Path, categories: list[str] | None = None) -> None:
        """Write `categories` (default: all) as `<category>.npz` + `<category>.json` under `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for category in categories or list(self):
            np.savez(directory / f"{category}.npz", feature=self[category])
            (directory / f"{category}.json").write_text(
                json.dumps(asdict(self.info[category]), indent=2) + "\n"
            )

    @classmethod
    def load(cls, directory: str | Path) -> ReferenceStore:
        """Read every `<category>.json` + `.npz` pair of `directory`; raise on a missing or inconsistent file."""
        directory = Path(directory)
        if not directory.is_dir():
            raise PerceptionError(f"reference directory {directory} does not exist")
        store = cls()
        for meta_path in sorted(directory.glob("*.json")):
            info = ReferenceInfo(**json.loads(meta_path.read_text()))
            npz_path = meta_path.with_suffix(".npz")
            if not npz_path.exists():
                raise PerceptionError(f"{meta_path} has no matching {npz_path.name}")
            with np.load(npz_path) as data:
                feature = data["feature"]
            if feature.shape != (info.feature_dim,):
                raise PerceptionError(
                    f"{npz_path}: feature shape {feature.shape}, json says ({info.feature_dim},)"
                )
            store.add(info.category, feature, info.backend, info.source, info.n_pixels)
        if not store:
            raise PerceptionError(f"no reference features (*.json + *.npz) in {directory}")
        return store
