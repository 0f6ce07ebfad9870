"""Per-point semantic features: the extractor protocol and D3Fields-style multi-view fusion.

An extractor turns a batch of views into `FeatureMaps`, which can be sampled at any sub-pixel
position of any view. `fuse_features` gives every cloud point the visibility-weighted mean of the
features it projects onto (D3Fields, Wang et al. 2023): for view i,
w_i = exp(min(mu − |d_proj − d_obs|, 0) / mu), mu = 0.02 m, and f = Σ w_i f_i / Σ w_i, L2-normalised.

Backends: `dinov2.Dinov2Extractor` (real images, `transformers`) and `oracle.OracleFeatureExtractor`
(simulator segmentation; DESIGN.md §5).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from codediffuser_perception.camera import pixel_lookup, visibility_weight
from codediffuser_perception.types import CameraView, FeatureCloud, PerceptionError

if TYPE_CHECKING:
    import torch

VISIBILITY_MU_M = 0.02
"""D3Fields' depth tolerance mu in metres."""


@runtime_checkable
class FeatureMaps(Protocol):
    """Dense features of a batch of views, queried by pixel position."""

    feature_dim: int

    def sample(self, view_index: int, uv: np.ndarray) -> np.ndarray:
        """(N, D) float32 features of view `view_index` at (N, 2) sub-pixel positions (u, v)."""
        ...


@runtime_checkable
class FeatureExtractor(Protocol):
    """Turns camera views into `FeatureMaps` (one forward pass for the whole batch)."""

    feature_dim: int

    def extract(self, views: Sequence[CameraView]) -> FeatureMaps:
        """Features of all `views`, in order."""
        ...


@dataclasses.dataclass
class PatchFeatureMaps:
    """Patch-grid features of a ViT, bilinearly upsampled to image size on demand.

    Sampling at a pixel equals indexing the map upsampled to (H, W) with
    `torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`, without materialising the
    (V, D, H, W) tensor (that would be ~0.5 GB per 640×480 view at D = 384).

    Attributes:
        maps: (V, D, h, w) float32 tensor, the patch tokens reshaped to the patch grid.
        image_size: (H, W) of the original views the grid covers edge to edge.
    """

    maps: torch.Tensor
    image_size: tuple[int, int]

    @property
    def feature_dim(self) -> int:
        return int(self.maps.shape[1])

    def sample(self, view_index: int, uv: np.ndarray) -> np.ndarray:
        import torch

        H, W = self.image_size
        uv = np.asarray(uv, np.float64).reshape(-1, 2)
        grid = np.stack([(uv[:, 0] + 0.5) / W * 2 - 1, (uv[:, 1] + 0.5) / H * 2 - 1], axis=1)
        # (1, 1, N, 2): grid_sample's normalised (x, y), -1/+1 at the outer image edges
        grid_t = torch.as_tensor(grid, dtype=self.maps.dtype, device=self.maps.device)[None, None]
        with torch.no_grad():
            out = torch.nn.functional.grid_sample(
                self.maps[view_index : view_index + 1],
                grid_t,
                mode="bilinear",
                padding_mode="border",  # interpolate() clamps at the edges, so must we
                align_corners=False,
            )  # (1, D, 1, N)
        return out[0, :, 0].float().cpu().numpy().T  # a strided (N, D) view: no transpose copy


def fuse_features(
    cloud: FeatureCloud,
    extractor: FeatureExtractor | None = None,
    maps: FeatureMaps | None = None,
    mu_m: float = VISIBILITY_MU_M,
) -> FeatureCloud:
    """Attach per-point features to a fused cloud (D3Fields-style visibility-weighted fusion).

    Args:
        cloud: the fused cloud; its `views` are the images the features come from.
        extractor: computes the feature maps of `cloud.views` (ignored when `maps` is given).
        maps: precomputed feature maps of `cloud.views`, in the same order.
        mu_m: depth tolerance of the visibility weight in metres.

    Returns:
        A copy of `cloud` with (M, D) float32 L2-normalised `features`; a point seen by no view gets
        the zero vector (cosine similarity 0 to any reference).

    Raises:
        PerceptionError: the cloud has no views, or neither extractor nor maps is given.
    """
    if not cloud.views:
        raise PerceptionError("the cloud carries no camera views: features are sampled from its views")
    if maps is None:
        if extractor is None:
            raise PerceptionError("fuse_features needs an extractor or precomputed feature maps")
        maps = extractor.extract(cloud.views)
    if mu_m <= 0:
        raise PerceptionError(f"mu_m must be > 0, got {mu_m}")
    # float32 and whole-cloud array operations: at D = 384 and ~60 k points, fancy-indexed float64
    # accumulation would cost more than the DINOv2 forward itself.
    total = np.zeros((len(cloud), maps.feature_dim), np.float32)
    weight_sum = np.zeros(len(cloud), np.float32)
    for i, view in enumerate(cloud.views):
        hit = pixel_lookup(cloud.points, view)
        w = visibility_weight(hit.depth_gap, mu_m).astype(np.float32)  # 0 outside the image
        if not w.any():
            continue
        total += w[:, None] * maps.sample(i, hit.uv)
        weight_sum += w
    total /= np.maximum(weight_sum, 1e-12)[:, None]
    total /= np.maximum(np.sqrt(np.einsum("md,md->m", total, total)), 1e-12)[:, None]  # unseen rows stay 0
    return dataclasses.replace(cloud, features=total)
