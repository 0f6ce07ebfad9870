"""ConditionalUnet1D: the temporal UNet that denoises an action sequence (Chi et al., 2023).

Convolutions run over the time axis of the action sequence; the diffusion timestep embedding and the
observation embedding condition every residual block by FiLM (a per-channel scale and bias), which is
what lets one network serve all noise levels and observations.

One departure from diffusion_policy's version: the finest-resolution skip is concatenated before the
output block (their up path never reads it). Without it the full-resolution input reaches the output
only through the strided path, which with small CPU widths cannot carry the noise to be predicted
(measured: a (32, 64) net could not learn the identity in 200 steps).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


class SinusoidalPosEmb(nn.Module):
    """Timestep (B,) → (B, dim) sinusoidal embedding (Vaswani et al.)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, t: Tensor) -> Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / max(half - 1, 1))
        angles = t.float()[:, None] * freqs[None, :]  # (B, half)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class Conv1dBlock(nn.Sequential):
    """Conv1d → GroupNorm → Mish over (B, C, T)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, n_groups: int) -> None:
        super().__init__(
            nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.GroupNorm(n_groups, out_channels),
            nn.Mish(),
        )


class ConditionalResidualBlock1D(nn.Module):
    """Two conv blocks with FiLM between them and a residual path: (B, Cin, T), (B, D) → (B, Cout, T)."""

    def __init__(
        self, in_channels: int, out_channels: int, cond_dim: int, kernel_size: int, n_groups: int
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.block1 = Conv1dBlock(in_channels, out_channels, kernel_size, n_groups)
        self.block2 = Conv1dBlock(out_channels, out_channels, kernel_size, n_groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * out_channels))
        self.residual = (
            nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        )

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        h = self.block1(x)
        scale, bias = self.film(cond).unsqueeze(-1).chunk(2, dim=1)  # 2 × (B, Cout, 1)
        h = self.block2(scale * h + bias)
        return h + self.residual(x)


class ConditionalUnet1D(nn.Module):
    """Noise prediction ε(x_t, t | obs) for an action sequence.

    Args:
        input_dim: action dimension.
        global_cond_dim: observation embedding width (flattened over the observation steps).
        down_dims: channel widths per resolution; the time axis halves between consecutive ones.
        kernel_size: temporal kernel.
        n_groups: GroupNorm groups.
        diffusion_step_embed_dim: timestep embedding width.
    """

    def __init__(
        self,
        input_dim: int,
        global_cond_dim: int,
        down_dims: Sequence[int],
        kernel_size: int,
        n_groups: int,
        diffusion_step_embed_dim: int,
    ) -> None:
        super().__init__()
        dsed = diffusion_step_embed_dim
        self.step_encoder = nn.Sequential(
            SinusoidalPosEmb(dsed), nn.Linear(dsed, 4 * dsed), nn.Mish(), nn.Linear(4 * dsed, dsed)
        )
        cond_dim = dsed + global_cond_dim
        dims = [input_dim, *down_dims]
        in_out = list(itertools.pairwise(dims))

        def block(cin: int, cout: int) -> ConditionalResidualBlock1D:
            return ConditionalResidualBlock1D(cin, cout, cond_dim, kernel_size, n_groups)

        self.down = nn.ModuleList()
        for i, (cin, cout) in enumerate(in_out):
            last = i == len(in_out) - 1
            down = nn.Conv1d(cout, cout, 3, stride=2, padding=1) if not last else nn.Identity()
            self.down.append(nn.ModuleList([block(cin, cout), block(cout, cout), down]))
        mid = down_dims[-1]
        self.mid = nn.ModuleList([block(mid, mid), block(mid, mid)])
        self.up = nn.ModuleList()
        for cin, cout in reversed(in_out[1:]):
            up = nn.ConvTranspose1d(cin, cin, 4, stride=2, padding=1)
            self.up.append(nn.ModuleList([block(2 * cout, cin), block(cin, cin), up]))
        start = down_dims[0]
        self.final = nn.Sequential(
            Conv1dBlock(2 * start, start, kernel_size, n_groups), nn.Conv1d(start, input_dim, 1)
        )

    def forward(self, sample: Tensor, timestep: Tensor, global_cond: Tensor) -> Tensor:
        """(B, T, input_dim) noisy actions, (B,) timesteps, (B, global_cond_dim) → (B, T, input_dim)."""
        x = sample.transpose(1, 2)  # (B, A, T)
        cond = torch.cat([self.step_encoder(timestep.expand(sample.shape[0])), global_cond], dim=-1)
        skips = []
        for res1, res2, down in self.down:
            x = res2(res1(x, cond), cond)
            skips.append(x)
            x = down(x)
        for res in self.mid:
            x = res(x, cond)
        for res1, res2, up in self.up:
            x = torch.cat([x, skips.pop()], dim=1)  # (B, 2C, T')
            x = up(res2(res1(x, cond), cond))
        x = torch.cat([x, skips.pop()], dim=1)  # (B, 2 * down_dims[0], T): the finest skip
        return self.final(x).transpose(1, 2)  # (B, T, A)
