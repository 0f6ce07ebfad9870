import numpy as np
import pytest

from codediffuser_policy.checkpoint import load_policy
from codediffuser_policy.config import TrainConfig, model_config
from codediffuser_policy.dataset import DatasetWriter
from codediffuser_policy.synthetic import WORKSPACE_MAX, WORKSPACE_MIN, synthetic_episode
from codediffuser_policy.train import train

EPISODE_STEPS = 12


@pytest.mark.slow
def test_overfits_one_episode_and_reproduces_its_actions(tmp_path):
    episode = synthetic_episode(EPISODE_STEPS, 32, seed=0)
    writer = DatasetWriter(tmp_path / "one.zarr", 32, 10.0, WORKSPACE_MIN, WORKSPACE_MAX)
    writer.add_episode(episode, task="t", level="none", seed=0, instruction="i", attended=["a"], success=True)
    config = TrainConfig(
        data=str(tmp_path / "one.zarr"),
        out=str(tmp_path / "run"),
        model=model_config(
            "tiny", n_points=32, down_dims=(64, 128), diffusion_step_embed_dim=32, kernel_size=3
        ),
        preset="tiny",
        val_ratio=0.0,
        batch_size=16,  # every window of the episode in each step
        num_epochs=10_000,
        max_steps=2000,
        lr=3e-3,
        lr_scheduler="constant_with_warmup",
        lr_warmup_steps=10,
        ema_max_decay=0.99,
        checkpoint_every_epochs=10_000,
    )
    result = train(config, progress=False)
    assert result.train_loss < result.first_loss / 10

    policy = load_policy(result.checkpoint)
    policy.reset()
    predicted = []
    ta = policy.config.n_action_steps
    for start in range(0, EPISODE_STEPS, ta):  # closed loop as deployed: observe every step, act per chunk
        for t in range(max(0, start - policy.config.n_obs_steps + 1), start):
            policy.observe({k: episode[k][t] for k in ("point_cloud", "attention", "agent_pos")})
        chunk = policy.predict_action(
            {k: episode[k][start] for k in ("point_cloud", "attention", "agent_pos")}
        )
        predicted.append(chunk.actions[: EPISODE_STEPS - start])
    predicted = np.concatenate(predicted)
    xyz_error = np.abs(predicted[:, :3] - episode["action"][:, :3])  # left end effector, metres
    # measured after 2000 steps with DDIM eta = 1 (≈ 100 s on one thread): mean 0.39 cm, max 1.5 cm
    # (1.06 / 4.0 cm and 0.79 / 2.6 cm with sampling seeds 1 and 2), on a path spanning 9-20 cm per axis;
    # after 500 steps the closing step was still missed (gripper error 0.19).
    assert xyz_error.mean() < 0.015
    assert xyz_error.max() < 0.05
    np.testing.assert_allclose(predicted[:, 3:9], episode["action"][:, 3:9], atol=1e-5)  # fixed rotation
    np.testing.assert_allclose(predicted[:, 10:], episode["action"][:, 10:], atol=1e-5)  # idle right arm
    # the gripper stays open on the approach and closes at the episode's closing step (measured error <= 0.04)
    np.testing.assert_allclose(predicted[:, 9], episode["action"][:, 9], atol=0.1)
