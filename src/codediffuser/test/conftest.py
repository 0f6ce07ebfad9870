"""Fixtures of the end-to-end tests."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def shared_cache(tmp_path_factory, monkeypatch) -> Path:
    """One cache per test session: tiny demonstrations and policies are recorded and trained once."""
    cache = tmp_path_factory.getbasetemp() / "e2e-cache"
    monkeypatch.setenv("CODEDIFFUSER_CACHE", str(cache))
    return cache


def write_untrained_checkpoint(path: Path, use_attention: bool = True) -> Path:
    """A tiny (64-point) randomly initialised policy whose normaliser keeps actions within ±2 cm of the home pose."""
    from codediffuser_policy.checkpoint import save_checkpoint
    from codediffuser_policy.config import model_config
    from codediffuser_policy.dataset import MinMax
    from codediffuser_policy.kinematics import SIDES, joints_to_action, load_arm_model
    from codediffuser_policy.policy import DiffusionPolicy

    config = model_config("tiny", use_attention=use_attention)
    policy = DiffusionPolicy(config, seed=0)
    models = {side: load_arm_model(side) for side in SIDES}
    home = joints_to_action(models, np.concatenate([np.append(models[s].home, 1.0) for s in SIDES]))
    delta = np.tile(np.array([0.02] * 3 + [1e-3] * 6 + [0.25], np.float32), 2)
    stats = MinMax(home - delta, home + delta)
    policy.normalizer.set_stats({"action": stats, "agent_pos": stats})
    state = policy.state_dict()
    payload = {
        "model_config": dataclasses.asdict(config),
        "model": state,
        "ema_model": state,
        "step": 0,
        "epoch": 0,
    }
    return save_checkpoint(path, payload)


@pytest.fixture(scope="session")
def untrained_checkpoint(tmp_path_factory) -> Path:
    """`write_untrained_checkpoint` of the attention policy, once per test session."""
    return write_untrained_checkpoint(tmp_path_factory.mktemp("policy") / "untrained.pt")


@pytest.fixture(scope="session")
def untrained_baseline_checkpoint(tmp_path_factory) -> Path:
    """`write_untrained_checkpoint` of the no-attention baseline, once per test session."""
    return write_untrained_checkpoint(tmp_path_factory.mktemp("policy") / "baseline.pt", use_attention=False)
