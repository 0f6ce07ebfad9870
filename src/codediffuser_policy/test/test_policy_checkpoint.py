import dataclasses

import numpy as np
import pytest
import torch

from codediffuser_policy.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    load_checkpoint,
    load_policy,
    save_checkpoint,
)
from codediffuser_policy.config import ConfigError, TrainConfig, model_config
from codediffuser_policy.synthetic import synthetic_episode
from codediffuser_policy.train import main, train


def _payload(policy):
    return {
        "model_config": dataclasses.asdict(policy.config),
        "model": policy.state_dict(),
        "ema_model": policy.state_dict(),
        "step": 0,
        "epoch": 0,
    }


def _obs():
    ep = synthetic_episode(2, 64, 0)
    return {
        "point_cloud": ep["point_cloud"][0],
        "attention": ep["attention"][0],
        "agent_pos": ep["agent_pos"][0],
    }


def test_round_trip_reproduces_predictions(tiny_policy, tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", _payload(tiny_policy))
    loaded = load_policy(path)
    assert loaded.config == tiny_policy.config
    for key, value in tiny_policy.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    tiny_policy.reset()
    np.testing.assert_array_equal(
        loaded.predict_action(_obs()).actions, tiny_policy.predict_action(_obs()).actions
    )


def test_deployment_overrides_change_the_chunk_not_the_weights(tiny_policy, tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", _payload(tiny_policy))
    cfg = tiny_policy.config
    longest = cfg.horizon - cfg.n_obs_steps + 1
    loaded = load_policy(path, n_action_steps=longest, num_inference_steps=2)
    assert (loaded.config.n_action_steps, loaded.config.num_inference_steps) == (longest, 2)
    assert loaded.predict_action(_obs()).actions.shape == (longest, 20)
    for key, value in tiny_policy.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    with pytest.raises(ConfigError, match="n_action_steps must be in"):
        load_policy(path, n_action_steps=longest + 1)


def test_checkpoint_from_before_the_input_branch_loads_without_it(tiny_store, tmp_path):
    """Checkpoints written before `ModelConfig.input_branch` existed rebuild their own architecture."""
    from codediffuser_policy.dataset import fit_normalizer_stats, load_store
    from codediffuser_policy.policy import DiffusionPolicy
    from codediffuser_policy.synthetic import WORKSPACE_MAX, WORKSPACE_MIN

    torch.manual_seed(0)
    config = model_config(
        "tiny", workspace_min=WORKSPACE_MIN, workspace_max=WORKSPACE_MAX, n_points=32, input_branch=False
    )
    old = DiffusionPolicy(config)
    old.normalizer.set_stats(fit_normalizer_stats(load_store(tiny_store)))
    payload = _payload(old)
    del payload["model_config"]["input_branch"]
    loaded = load_policy(save_checkpoint(tmp_path / "old.pt", payload))
    assert loaded.config == config
    assert loaded.encoder.input_branch is None


def test_truncated_file_is_a_checkpoint_error(tiny_policy, tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", _payload(tiny_policy))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_policy(tmp_path / "missing.pt")


def test_foreign_or_mismatched_checkpoints_are_refused(tiny_policy, tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"format": "something-else"}, path)
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(path)
    torch.save({"format": CHECKPOINT_FORMAT, "model": {}}, path)
    with pytest.raises(CheckpointError, match="lacks"):
        load_checkpoint(path)
    payload = _payload(tiny_policy)
    payload["model_config"] = {**payload["model_config"], "down_dims": (32, 64)}  # weights are for (16, 32)
    save_checkpoint(path, payload)
    with pytest.raises(CheckpointError, match="does not match the model"):
        load_policy(path)
    payload["model_config"] = {**payload["model_config"], "num_inference_steps": 0}
    save_checkpoint(path, payload)
    with pytest.raises(CheckpointError, match="invalid model configuration"):
        load_policy(path)


def _config(store, out, **overrides):
    values = {
        "data": str(store),
        "out": str(out),
        "model": model_config("tiny", n_points=32),
        "preset": "tiny",
        "batch_size": 8,
        "num_epochs": 2,
        "val_ratio": 0.34,
        "lr_warmup_steps": 2,
        "checkpoint_every_epochs": 1,
    }
    return TrainConfig(**{**values, **overrides})


def test_resume_continues_exactly(tiny_store, tmp_path):
    shifted = {"translate_m": 0.03}  # the per-epoch shifts and point draws repeat across a resume too
    straight = train(_config(tiny_store, tmp_path / "a", **shifted), progress=False)
    train(
        _config(tiny_store, tmp_path / "b", num_epochs=2, max_steps=straight.step // 2, **shifted),
        progress=False,
    )
    resumed = train(_config(tiny_store, tmp_path / "b", resume=True, **shifted), progress=False)
    assert resumed.step == straight.step
    assert resumed.epoch == straight.epoch == 2
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    for key in ("model", "ema_model"):
        for name, value in a[key].items():
            torch.testing.assert_close(b[key][name], value)
    rows = (tmp_path / "b" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + one row per epoch across both invocations
    assert np.isfinite(straight.val_loss)
    assert 0 < straight.val_action_error_m < 1  # metres, sampled from a barely trained tiny policy
    assert "val_action_error_m" in rows[0]
    assert (tmp_path / "a" / "tensorboard").is_dir()


def test_resume_with_another_model_is_refused(tiny_store, tmp_path):
    train(_config(tiny_store, tmp_path / "a", num_epochs=1), progress=False)
    other = _config(
        tiny_store, tmp_path / "a", resume=True, model=model_config("tiny", n_points=32, use_attention=False)
    )
    with pytest.raises(CheckpointError, match="use_attention"):
        train(other, progress=False)


def test_cli_reports_errors_with_a_status(tiny_store, tmp_path, capsys):
    assert main(["--data", str(tmp_path / "none.zarr"), "--out", str(tmp_path / "r")]) == 2
    assert "DatasetError" in capsys.readouterr().err
    assert main(["--data", str(tiny_store), "--out", str(tmp_path / "r"), "--n-points", "999"]) == 2
    assert "n_points" in capsys.readouterr().err
    assert (
        main(["--data", str(tiny_store), "--out", str(tmp_path / "r"), "--resume", "--preset", "tiny"]) == 2
    )
    assert "CheckpointError" in capsys.readouterr().err
