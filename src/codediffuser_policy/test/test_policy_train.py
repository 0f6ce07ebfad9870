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
        max_steps=500,
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
    # coarse: measured after 500 steps with DDIM eta = 1, mean 1.8 cm and max 5.7 cm (2.8 / 8.6 cm with
    # other sampling seeds; 3.5 / 12 cm with deterministic DDIM), on a path spanning 9-20 cm per axis.
    # The gripper closing step is not reproduced yet: 500 steps of 9 windows draw too few noise levels
    # (8x the windows per step brings the open-loop gripper error from 0.19 to 0.07).
    assert xyz_error.mean() < 0.04
    assert xyz_error.max() < 0.1
    np.testing.assert_allclose(predicted[:, 3:9], episode["action"][:, 3:9], atol=1e-5)  # fixed rotation
    np.testing.assert_allclose(predicted[:, 10:], episode["action"][:, 10:], atol=1e-5)  # idle right arm
    # the gripper stays open on the approach
    assert np.all(predicted[:6, 9] > 0.5)
