"""Exponential moving average of the policy weights (what deployment uses).

The decay warms up as in diffusion_policy's `EMAModel`: `decay = 1 - (1 + step)^-power`, capped at
`max_decay`, so early, fast-changing weights are not averaged in for long. Written here instead of
importing `diffusers.training_utils.EMAModel` because that module pulls in all of diffusers' models
(≈ 15 s of imports on the 2-core CPU) for thirty lines of arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


class EMA:
    """Shadow copies of a module's parameters, updated after each optimiser step.

    Args:
        parameters: the parameters to average (their order is the state's order).
        power: warm-up exponent of the decay.
        max_decay: upper bound on the decay.
    """

    def __init__(
        self, parameters: Iterable[nn.Parameter], power: float = 0.75, max_decay: float = 0.9999
    ) -> None:
        if power <= 0 or not 0 < max_decay < 1:
            raise ValueError(f"need power > 0 and 0 < max_decay < 1, got {power}, {max_decay}")
        self.power = power
        self.max_decay = max_decay
        self.shadow = [p.detach().clone() for p in parameters]
        self.step_count = 0

    def decay(self) -> float:
        """The decay the next `step` applies."""
        return min(self.max_decay, max(0.0, 1.0 - (1.0 + self.step_count) ** -self.power))

    @torch.no_grad()
    def step(self, parameters: Iterable[nn.Parameter]) -> None:
        """Shadow ← decay · shadow + (1 − decay) · parameter."""
        decay = self.decay()
        params = list(parameters)
        if len(params) != len(self.shadow):
            raise ValueError(f"EMA tracks {len(self.shadow)} parameters, got {len(params)}")
        for shadow, param in zip(self.shadow, params, strict=True):
            shadow.lerp_(param.detach(), 1.0 - decay)
        self.step_count += 1

    @torch.no_grad()
    def copy_to(self, parameters: Iterable[nn.Parameter]) -> None:
        """Write the averaged weights into `parameters` (e.g. of a copy of the model)."""
        for shadow, param in zip(self.shadow, list(parameters), strict=True):
            param.copy_(shadow)

    def state_dict(self) -> dict[str, Any]:
        return {
            "shadow": self.shadow,
            "step_count": self.step_count,
            "power": self.power,
            "max_decay": self.max_decay,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        shadow = state["shadow"]
        if len(shadow) != len(self.shadow) or any(
            a.shape != b.shape for a, b in zip(shadow, self.shadow, strict=True)
        ):
            raise ValueError("EMA state does not match the model's parameters")
        self.shadow = [t.detach().clone().to(s.device) for t, s in zip(shadow, self.shadow, strict=True)]
        self.step_count = int(state["step_count"])
        self.power = float(state["power"])
        self.max_decay = float(state["max_decay"])
