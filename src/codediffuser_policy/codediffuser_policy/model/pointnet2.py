"""PointNet++ encoder with residual MLPs: a point cloud with per-point attention → one feature vector.

Set abstraction (Qi et al., 2017): farthest-point sampling picks centres, a ball query gathers their
neighbours, a shared MLP embeds (relative xyz, point features) and a max over the neighbours pools them.
The last layer groups all remaining centres (with their absolute xyz) into one global vector. The MLPs
are stacks of residual blocks with LayerNorm (DP3 found BatchNorm harmful for point-cloud policies).

The input branch is a residual path from the raw input to the global vector: a shared MLP on every
point's (xyz, attention) max-pooled and added to the set-abstraction result. Set abstraction only sees
the points within a ball of some farthest-point centre (with 64 centres of 4 cm on a 256-point table
scene, a third of the points fall in no ball), so a small attended object can vanish from the
hierarchy; the input branch sees every point, and max-pooling (attention × position) features locates
the attended instances directly (DP3's whole encoder is this branch).

Sampling and grouping are plain vectorised torch, so the encoder runs on CPU and GPU without custom
CUDA kernels. Everything is deterministic: FPS starts at the first point.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def farthest_point_sample(xyz: Tensor, npoint: int) -> Tensor:
    """Indices of `npoint` centres spread over each cloud by iterative farthest-point sampling.

    Args:
        xyz: (B, N, 3) points.
        npoint: centres per cloud, 1..N.

    Returns:
        (B, npoint) int64 indices; the first centre is point 0.
    """
    b, n, _ = xyz.shape
    if not 1 <= npoint <= n:
        raise ValueError(f"npoint must be in 1..{n}, got {npoint}")
    indices = torch.zeros(b, npoint, dtype=torch.long, device=xyz.device)
    min_dist = torch.full((b, n), float("inf"), dtype=xyz.dtype, device=xyz.device)
    farthest = torch.zeros(b, dtype=torch.long, device=xyz.device)
    batch = torch.arange(b, device=xyz.device)
    for i in range(npoint):
        indices[:, i] = farthest
        centre = xyz[batch, farthest].unsqueeze(1)  # (B, 1, 3)
        min_dist = torch.minimum(min_dist, ((xyz - centre) ** 2).sum(-1))
        farthest = min_dist.argmax(-1)
    return indices


def ball_query(xyz: Tensor, centres: Tensor, radius: float, nsample: int) -> Tensor:
    """Up to `nsample` neighbours of each centre within `radius`, nearest first.

    A centre with fewer neighbours repeats its nearest one (itself when it is a cloud point), so the
    max-pool that follows is unaffected. Taking the nearest rather than the first in memory order
    (the original CUDA kernel) makes the result independent of point order.

    Args:
        xyz: (B, N, 3) points.
        centres: (B, S, 3) query centres.
        radius: metres.
        nsample: neighbours per centre (capped at N).

    Returns:
        (B, S, min(nsample, N)) int64 indices into `xyz`.
    """
    k = min(nsample, xyz.shape[1])
    sq_dist = torch.cdist(centres, xyz).square()  # (B, S, N)
    near_dist, near_idx = sq_dist.topk(k, dim=-1, largest=False)  # (B, S, k), ascending
    outside = near_dist > radius**2
    return torch.where(outside, near_idx[..., :1].expand_as(near_idx), near_idx)


def gather_points(values: Tensor, indices: Tensor) -> Tensor:
    """Values (B, N, C) gathered at indices (B, ...) → (B, ..., C)."""
    b = values.shape[0]
    flat = indices.reshape(b, -1)  # (B, S*K)
    gathered = torch.gather(values, 1, flat.unsqueeze(-1).expand(-1, -1, values.shape[-1]))
    return gathered.reshape(*indices.shape, values.shape[-1])


class ResidualMLP(nn.Module):
    """Pointwise MLP: a projection to `width` followed by `n_blocks` pre-norm residual blocks."""

    def __init__(self, in_dim: int, width: int, n_blocks: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width)
            )
            for _ in range(n_blocks)
        )
        self.out_norm = nn.LayerNorm(width)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(x)
        for block in self.blocks:
            x = x + block(x)
        return torch.relu(self.out_norm(x))


class SetAbstraction(nn.Module):
    """One set-abstraction layer: FPS centres → ball-query groups → residual MLP → max-pool.

    Args:
        npoint: centres (capped at the points available).
        radius: ball-query radius, metres.
        nsample: neighbours per centre.
        in_features: per-point feature channels besides xyz (0 for none).
        width: output channels.
        n_blocks: residual blocks in the MLP.
    """

    def __init__(
        self, npoint: int, radius: float, nsample: int, in_features: int, width: int, n_blocks: int
    ) -> None:
        super().__init__()
        self.npoint, self.radius, self.nsample = npoint, radius, nsample
        self.mlp = ResidualMLP(3 + in_features, width, n_blocks)

    def forward(self, xyz: Tensor, features: Tensor | None) -> tuple[Tensor, Tensor]:
        """(B, N, 3), (B, N, C) or None → centres (B, S, 3), features (B, S, width)."""
        centre_idx = farthest_point_sample(xyz, min(self.npoint, xyz.shape[1]))  # (B, S)
        centres = gather_points(xyz, centre_idx)  # (B, S, 3)
        group_idx = ball_query(xyz, centres, self.radius, self.nsample)  # (B, S, K)
        # relative coordinates in units of the radius, so every layer sees O(1) inputs
        grouped = (gather_points(xyz, group_idx) - centres.unsqueeze(2)) / self.radius  # (B, S, K, 3)
        if features is not None:
            grouped = torch.cat([grouped, gather_points(features, group_idx)], dim=-1)  # (B, S, K, 3 + C)
        return centres, self.mlp(grouped).amax(dim=2)


class PointNet2Encoder(nn.Module):
    """Point cloud (+ attention) → (B, out_dim) observation feature.

    Args:
        in_channels: 4 (xyz + attention, CodeDiffuser) or 3 (xyz only, the baseline).
        npoints, radii, nsamples: per set-abstraction layer.
        channels: per layer widths plus the group-all width (one more entry).
        n_blocks: residual blocks per MLP.
        out_dim: output feature width.
        input_branch: add the per-point input branch (module docstring) to the global vector.
    """

    def __init__(
        self,
        in_channels: int,
        npoints: Sequence[int],
        radii: Sequence[float],
        nsamples: Sequence[int],
        channels: Sequence[int],
        n_blocks: int,
        out_dim: int,
        input_branch: bool = True,
    ) -> None:
        super().__init__()
        if in_channels not in (3, 4):
            raise ValueError(f"in_channels must be 3 (xyz) or 4 (xyz + attention), got {in_channels}")
        if not len(npoints) == len(radii) == len(nsamples) == len(channels) - 1:
            raise ValueError(
                f"need one npoint/radius/nsample per layer and one more channel entry, got "
                f"{list(npoints)}, {list(radii)}, {list(nsamples)}, {list(channels)}"
            )
        self.in_channels = in_channels
        layers = []
        in_features = in_channels - 3
        for npoint, radius, nsample, width in zip(npoints, radii, nsamples, channels[:-1], strict=True):
            layers.append(SetAbstraction(npoint, radius, nsample, in_features, width, n_blocks))
            in_features = width
        self.layers = nn.ModuleList(layers)
        self.group_all = ResidualMLP(3 + in_features, channels[-1], n_blocks)
        self.input_branch = ResidualMLP(in_channels, channels[-1], n_blocks) if input_branch else None
        self.head = nn.Sequential(nn.Linear(channels[-1], out_dim), nn.LayerNorm(out_dim))

    def forward(self, cloud: Tensor) -> Tensor:
        """(B, in_channels, N) → (B, out_dim). Channels: x, y, z in metres, then attention in [0, 1]."""
        if cloud.ndim != 3 or cloud.shape[1] != self.in_channels:
            raise ValueError(f"expected (B, {self.in_channels}, N), got {tuple(cloud.shape)}")
        points = cloud.transpose(1, 2)  # (B, N, C)
        xyz = points[..., :3].contiguous()
        features = points[..., 3:] if self.in_channels > 3 else None
        for layer in self.layers:
            xyz, features = layer(xyz, features)
        grouped = torch.cat([xyz, features], dim=-1)  # (B, S, 3 + C)
        pooled = self.group_all(grouped).amax(dim=1)  # (B, channels[-1])
        if self.input_branch is not None:
            pooled = pooled + self.input_branch(points).amax(dim=1)
        return self.head(pooled)
