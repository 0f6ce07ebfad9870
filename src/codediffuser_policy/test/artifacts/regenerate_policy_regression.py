"""Regenerate `policy_regression.npz`: outputs of a tiny seeded policy on a fixed synthetic observation.

`test_policy_regression.py` recomputes these outputs and compares them with the stored ones, so any
change in the encoder, the UNet, the normaliser, the schedulers or the point sampling shows up.

Run it (from the repository root: `python src/codediffuser_policy/test/artifacts/regenerate_policy_regression.py`)
ONLY after an intended change of the numerics — a new architecture detail, another diffusers scheduler
setting, a new sampling rule — and say so in the commit message. Never regenerate to silence a failure
you cannot explain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from codediffuser_policy.config import model_config
from codediffuser_policy.dataset import MinMax
from codediffuser_policy.policy import DiffusionPolicy
from codediffuser_policy.synthetic import WORKSPACE_MAX, WORKSPACE_MIN, synthetic_episode

ARTIFACT = Path(__file__).with_name("policy_regression.npz")


def compute_outputs() -> dict[str, np.ndarray]:
    """Encoder features, one UNet evaluation, a DDIM sample and a `predict_action` chunk."""
    torch.manual_seed(0)
    policy = DiffusionPolicy(
        model_config("tiny", n_points=32, workspace_min=WORKSPACE_MIN, workspace_max=WORKSPACE_MAX), seed=0
    )
    episode = synthetic_episode(6, 64, seed=0)
    policy.normalizer.set_stats({key: MinMax.fit(episode[key]) for key in ("action", "agent_pos")})
    policy.eval()
    to = policy.config.n_obs_steps
    point_cloud = torch.from_numpy(episode["point_cloud"][None, :to, :32])  # (1, To, 32, 3)
    attention = torch.from_numpy(episode["attention"][None, :to, :32])  # (1, To, 32)
    agent_pos = torch.from_numpy(episode["agent_pos"][None, :to])  # (1, To, 20)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        cond = policy.encode_obs(point_cloud, attention, agent_pos)
        x_t = torch.randn((1, policy.config.horizon, 20), generator=generator)
        eps = policy.unet(x_t, torch.tensor([37]), cond)
    sample = policy.sample_actions(
        point_cloud, attention, agent_pos, generator=torch.Generator().manual_seed(1)
    )
    policy.reset(seed=2)
    chunk = policy.predict_action(
        {
            "point_cloud": episode["point_cloud"][0],
            "attention": episode["attention"][0],
            "agent_pos": episode["agent_pos"][0],
        }
    )
    return {
        "obs_embedding": cond.numpy(),
        "unet_eps": eps.numpy(),
        "ddim_sample": sample.numpy(),
        "predict_action": chunk.actions,
    }


if __name__ == "__main__":
    np.savez_compressed(ARTIFACT, **compute_outputs())
    print(f"wrote {ARTIFACT}")
