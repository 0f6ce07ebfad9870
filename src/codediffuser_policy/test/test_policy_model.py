import argparse

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from codediffuser_perception.geometry import (
    matrix_to_rot6d,
    pose_to_xyz_rot6d,
    rot6d_to_matrix,
    xyz_rot6d_to_pose,
)
from codediffuser_perception.types import PerceptionError
from codediffuser_policy.config import (
    ConfigError,
    ModelConfig,
    TrainConfig,
    add_arguments,
    from_arguments,
    model_config,
)
from codediffuser_policy.model.pointnet2 import PointNet2Encoder, ball_query, farthest_point_sample
from codediffuser_policy.model.unet1d import ConditionalUnet1D
from codediffuser_policy.policy import DiffusionPolicy, PolicyError, project_actions
from codediffuser_policy.synthetic import synthetic_episode


def test_farthest_point_sample_spreads_over_clusters():
    rng = np.random.default_rng(0)
    corners = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    cloud = np.concatenate([c + rng.normal(0, 0.01, (25, 3)) for c in corners]).astype(np.float32)
    idx = farthest_point_sample(torch.from_numpy(cloud)[None], 4)[0].numpy()
    assert idx[0] == 0
    assert sorted(i // 25 for i in idx) == [0, 1, 2, 3]  # one centre per cluster


def test_ball_query_matches_brute_force():
    torch.manual_seed(0)
    xyz = torch.rand(2, 50, 3)
    centres = xyz[:, :5]
    idx = ball_query(xyz, centres, radius=0.3, nsample=8)
    assert idx.shape == (2, 5, 8)
    for b in range(2):
        for s in range(5):
            dist = (xyz[b] - centres[b, s]).norm(dim=-1)
            inside = set(torch.nonzero(dist <= 0.3).flatten().tolist())
            got = set(idx[b, s].tolist())
            assert got <= inside
            assert len(got) == min(8, len(inside))  # nearest neighbours, padded with the nearest one
            assert idx[b, s, 0] == s


def test_encoder_shapes_and_attention_channel():
    torch.manual_seed(0)
    cfg = model_config("tiny")
    encoder = PointNet2Encoder(4, cfg.sa_npoints, cfg.sa_radii, cfg.sa_nsamples, cfg.sa_channels, 1, 24)
    cloud = torch.rand(3, 4, 40) * 0.2
    cloud[:, 3] = (cloud[:, 0] > 0.1).float()
    assert encoder(cloud).shape == (3, 24)
    flipped = cloud.clone()
    flipped[:, 3] = 1 - flipped[:, 3]
    assert not torch.allclose(encoder(cloud), encoder(flipped))  # attention changes the embedding
    baseline = PointNet2Encoder(3, cfg.sa_npoints, cfg.sa_radii, cfg.sa_nsamples, cfg.sa_channels, 1, 24)
    assert baseline(cloud[:, :3]).shape == (3, 24)
    with pytest.raises(ValueError, match=r"expected \(B, 3, N\)"):
        baseline(cloud)


@pytest.mark.parametrize("input_branch", [True, False])
def test_input_branch_sees_points_outside_every_ball(input_branch):
    """A lone attended point that no set-abstraction ball reaches matters only through the input branch."""
    torch.manual_seed(0)
    encoder = PointNet2Encoder(4, (1,), (0.05,), (8,), (16, 16), 1, 8, input_branch=input_branch)
    cloud = torch.zeros(1, 4, 20)
    cloud[0, :3, :19] = torch.rand(3, 19) * 0.02  # a cluster at the origin; FPS starts at point 0
    cloud[0, :3, 19] = torch.tensor([0.5, 0.5, 0.0])  # far outside the one centre's 5 cm ball
    attended = cloud.clone()
    attended[0, 3, 19] = 1.0
    moved = attended.clone()
    moved[0, :3, 19] = torch.tensor([0.4, 0.5, 0.0])
    with torch.no_grad():
        same_attention = torch.allclose(encoder(cloud), encoder(attended))
        same_position = torch.allclose(encoder(attended), encoder(moved))
    assert same_attention is (not input_branch)
    assert same_position is (not input_branch)


@pytest.mark.parametrize("down_dims", [(16,), (16, 32), (16, 32, 64)])
def test_unet_keeps_the_sequence_shape(down_dims):
    unet = ConditionalUnet1D(20, 10, down_dims, 5, 8, 16)
    out = unet(torch.randn(2, 16, 20), torch.tensor([3, 70]), torch.randn(2, 10))
    assert out.shape == (2, 16, 20)
    single_t = unet(torch.randn(2, 16, 20), torch.tensor(5), torch.randn(2, 10))
    assert single_t.shape == (2, 16, 20)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_inference_steps": 0}, "num_inference_steps must be in 1..100, got 0"),
        ({"horizon": 10}, "horizon \\(10\\) must be divisible"),
        ({"sa_radii": (0.02,)}, "sa_radii"),
        ({"n_action_steps": 16}, "n_action_steps must be in 1..15"),
        ({"down_dims": (60, 128, 256)}, "divisible by n_groups"),
        ({"beta_schedule": "cosine"}, "got 'cosine'"),
    ],
)
def test_config_errors_show_the_bad_value(overrides, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**overrides)


def test_presets_build_and_paper_sizes():
    paper = model_config("paper")
    assert paper.down_dims == (512, 1024, 2048)
    assert paper.sa_npoints == (512, 128)
    assert paper.sa_radii == (0.02, 0.045)
    assert paper.sa_nsamples == (32, 64)
    assert model_config("cpu") == ModelConfig()
    with pytest.raises(ConfigError, match="preset"):
        model_config("huge")


def test_cli_is_generated_from_the_dataclasses():
    parser = argparse.ArgumentParser()
    add_arguments(parser, TrainConfig)
    args = parser.parse_args(
        [
            "--data",
            "x.zarr",
            "--preset",
            "tiny",
            "--no-use-attention",
            "--down-dims",
            "32",
            "64",
            "--lr",
            "3e-4",
        ]
    )
    config = from_arguments(args, {"batch_size": 7, "model": {"n_points": 48}})
    assert config.lr == 3e-4
    assert config.batch_size == 7
    assert config.model.use_attention is False
    assert config.model.down_dims == (32, 64)
    assert config.model.n_points == 48
    assert config.model.sa_channels == model_config("tiny").sa_channels  # from the preset
    with pytest.raises(ConfigError, match="unknown"):
        from_arguments(args, {"model": {"bogus": 1}})


def test_rot6d_round_trip_and_projection():
    R = Rotation.random(10, random_state=0).as_matrix()
    np.testing.assert_allclose(rot6d_to_matrix(matrix_to_rot6d(R)), R, atol=1e-12)
    actions = np.zeros((10, 20), np.float32)
    actions[:, 3:9] = matrix_to_rot6d(R) * 2.5 + 0.01  # scaled, slightly skewed network output
    actions[:, 13:19] = matrix_to_rot6d(R)
    actions[:, 9] = 1.4
    projected = project_actions(actions)
    for rot in (slice(3, 9), slice(13, 19)):
        M = rot6d_to_matrix(projected[:, rot])
        np.testing.assert_allclose(
            M @ M.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (10, 3, 3)), atol=1e-5
        )
    np.testing.assert_allclose(rot6d_to_matrix(projected[:, 13:19]), R, atol=1e-5)
    assert np.all(projected[:, 9] == 1.0)


def test_pose_blocks_round_trip_batched():
    T = np.zeros((2, 5, 4, 4))
    T[..., :3, :3] = Rotation.random(10, random_state=1).as_matrix().reshape(2, 5, 3, 3)
    T[..., :3, 3] = np.random.default_rng(0).normal(size=(2, 5, 3))
    T[..., 3, 3] = 1.0
    block = pose_to_xyz_rot6d(T)
    assert block.shape == (2, 5, 9)
    with_gripper = np.concatenate([block, np.full((2, 5, 1), 0.3)], axis=-1)
    np.testing.assert_allclose(xyz_rot6d_to_pose(with_gripper), T, atol=1e-12)
    np.testing.assert_allclose(pose_to_xyz_rot6d(T[0, 0]), block[0, 0])


def _obs(t=0, seed=0, n=64):
    ep = synthetic_episode(4, n, seed)
    return {
        "point_cloud": ep["point_cloud"][t],
        "attention": ep["attention"][t],
        "agent_pos": ep["agent_pos"][t],
    }


def test_predict_action_interface(tiny_policy):
    cfg = tiny_policy.config
    tiny_policy.reset()
    chunk = tiny_policy.predict_action(_obs())
    assert chunk.actions.shape == (cfg.n_action_steps, 20)
    assert chunk.dt_s == pytest.approx(0.1)
    tiny_policy.reset()
    again = tiny_policy.predict_action(_obs())
    np.testing.assert_array_equal(chunk.actions, again.actions)  # reset re-seeds sampling
    tiny_policy.observe(_obs(1))
    assert not np.array_equal(tiny_policy.predict_action().actions, chunk.actions)


def test_predict_action_rejects_bad_observations(tiny_policy):
    tiny_policy.reset()
    obs = _obs()
    with pytest.raises(PolicyError, match="attention"):
        tiny_policy.predict_action({k: v for k, v in obs.items() if k != "attention"})
    with pytest.raises(PolicyError, match="point_cloud"):
        tiny_policy.predict_action({**obs, "point_cloud": obs["point_cloud"][:, :2]})
    with pytest.raises(PerceptionError, match="workspace"):
        tiny_policy.predict_action({**obs, "point_cloud": obs["point_cloud"] + 10.0})
    with pytest.raises(PolicyError, match="needs an observation"):
        tiny_policy.predict_action()


def test_baseline_ignores_attention(tiny_policy):
    torch.manual_seed(0)
    baseline = DiffusionPolicy(model_config("tiny", use_attention=False, n_points=32))
    baseline.normalizer.load_state_dict(tiny_policy.normalizer.state_dict())
    obs = _obs()
    a = baseline.predict_action(obs).actions
    baseline.reset()
    b = baseline.predict_action({**obs, "attention": 1 - obs["attention"]}).actions
    np.testing.assert_array_equal(a, b)
    assert baseline.encoder.in_channels == 3


def test_unfitted_normaliser_is_an_error():
    policy = DiffusionPolicy(model_config("tiny", n_points=32))
    with pytest.raises(PolicyError, match="not fitted"):
        policy.predict_action(_obs())


def test_ddpm_and_ddim_both_sample(tiny_policy):
    batch = {k: torch.from_numpy(np.stack([v, v]))[None] for k, v in _obs(n=32).items()}
    for sampler, steps in (("ddim", 10), ("ddpm", 100), ("ddim", 3)):
        out = tiny_policy.sample_actions(
            batch["point_cloud"],
            batch["attention"],
            batch["agent_pos"],
            sampler=sampler,
            num_inference_steps=steps,
        )
        assert out.shape == (1, tiny_policy.config.horizon, 20)
        assert torch.isfinite(out).all()
    with pytest.raises(PolicyError, match="sampler"):
        tiny_policy.sample_actions(
            batch["point_cloud"], batch["attention"], batch["agent_pos"], sampler="euler"
        )


def test_shipped_yaml_preset_is_valid():
    from pathlib import Path

    from codediffuser_policy.config import load_yaml
    from codediffuser_policy.train import build_parser

    path = Path(__file__).resolve().parents[3] / "config" / "policy.yaml"
    args = build_parser().parse_args(["--config", str(path), "--data", "d.zarr", "--batch-size", "4"])
    config = from_arguments(args, load_yaml(path))
    assert config.batch_size == 4  # flags override the file
    assert config.model.use_attention is True
    assert config.model == model_config("cpu")


def test_every_config_field_is_documented():
    import dataclasses

    from codediffuser_policy.config import field_docs

    for cls in (ModelConfig, TrainConfig):
        docs = field_docs(cls)
        missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
        assert missing == [], f"{cls.__name__} fields without a docstring entry: {missing}"
    assert field_docs(TrainConfig)["max_steps"].endswith("0 = run all epochs.")  # continuation lines joined
