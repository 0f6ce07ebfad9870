"""Shared fixtures of the policy tests: a tiny synthetic store and a tiny seeded policy."""

import pytest
import torch

from codediffuser_policy.config import model_config
from codediffuser_policy.dataset import DatasetWriter, fit_normalizer_stats, load_store
from codediffuser_policy.policy import DiffusionPolicy
from codediffuser_policy.synthetic import WORKSPACE_MAX, WORKSPACE_MIN, synthetic_episode

N_POINTS = 64


@pytest.fixture
def tiny_store(tmp_path):
    """A store of three 12-step synthetic episodes with 64 points."""
    path = tmp_path / "tiny.zarr"
    writer = DatasetWriter(path, N_POINTS, 10.0, WORKSPACE_MIN, WORKSPACE_MAX)
    for seed in range(3):
        writer.add_episode(
            synthetic_episode(12, N_POINTS, seed),
            task="pack_battery",
            level="none",
            seed=seed,
            instruction="pack the red battery into slot 1",
            attended=["battery_0", "slot_1"],
            success=True,
        )
    return path


@pytest.fixture
def tiny_policy(tiny_store):
    """A seeded tiny policy with its normaliser fitted on `tiny_store`."""
    torch.manual_seed(0)
    store = load_store(tiny_store)
    policy = DiffusionPolicy(
        model_config("tiny", workspace_min=WORKSPACE_MIN, workspace_max=WORKSPACE_MAX, n_points=32)
    )
    policy.normalizer.set_stats(fit_normalizer_stats(store))
    return policy.eval()


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread; on a busy 2-core machine two threads were 100× slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
