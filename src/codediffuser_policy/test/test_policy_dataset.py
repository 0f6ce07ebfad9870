import numpy as np
import pytest
import zarr

from codediffuser_policy.dataset import (
    STEP_KEYS,
    DatasetError,
    DatasetWriter,
    MinMax,
    PolicyDataset,
    fit_normalizer_stats,
    load_store,
    sequence_indices,
    split_episodes,
)
from codediffuser_policy.synthetic import WORKSPACE_MAX, WORKSPACE_MIN, synthetic_episode

ATTRS = {
    "task": "pack_battery",
    "level": "none",
    "instruction": "pack the red battery",
    "attended": ["a", "b"],
}


def _writer(path, n_points=16):
    return DatasetWriter(path, n_points, 10.0, WORKSPACE_MIN, WORKSPACE_MAX)


def test_round_trip_and_layout(tmp_path):
    writer = _writer(tmp_path / "d.zarr")
    episodes = [synthetic_episode(5, 16, seed=0), synthetic_episode(7, 16, seed=1)]
    for i, ep in enumerate(episodes):
        assert writer.add_episode(ep, seed=i, success=i == 0, **ATTRS) == i
    root = zarr.open_group(str(tmp_path / "d.zarr"), mode="r")
    assert root.attrs["format"] == "codediffuser-v1"
    assert root.attrs["n_points"] == 16
    assert root["data/point_cloud"].shape == (12, 16, 3)
    assert root["data/colors"].dtype == np.uint8
    assert root["meta/episode_ends"][:].tolist() == [5, 12]
    assert root["meta/episode_ends"].dtype == np.int64
    store = load_store(tmp_path / "d.zarr")
    for key in STEP_KEYS:
        np.testing.assert_array_equal(store.data[key], np.concatenate([ep[key] for ep in episodes]))
    assert [e["seed"] for e in store.episodes] == [0, 1]
    assert store.episodes[0]["success"] is True
    assert store.episodes[1]["attended"] == ["a", "b"]
    np.testing.assert_allclose(store.workspace_min, WORKSPACE_MIN)


def test_resume_continues_and_drops_partial_episode(tmp_path):
    path = tmp_path / "d.zarr"
    _writer(path).add_episode(synthetic_episode(4, 16, seed=0), seed=0, success=True, **ATTRS)
    # simulate a crash after the step arrays of an episode were appended but before its end was recorded
    root = zarr.open_group(str(path), mode="r+")
    root["data/action"].append(np.zeros((3, 20), np.float32), axis=0)
    writer = _writer(path)
    assert writer.n_episodes == 1
    assert root["data/action"].shape[0] == 4
    writer.add_episode(synthetic_episode(6, 16, seed=1), seed=1, success=False, **ATTRS)
    store = load_store(path)
    assert store.episode_ends.tolist() == [4, 10]
    assert len(store.episodes) == 2
    np.testing.assert_array_equal(store.data["action"][4:], synthetic_episode(6, 16, seed=1)["action"])


def test_reopen_with_other_settings_is_refused(tmp_path):
    _writer(tmp_path / "d.zarr")
    with pytest.raises(DatasetError, match="n_points"):
        _writer(tmp_path / "d.zarr", n_points=32)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda ep: ep.pop("colors"), "missing"),
        (lambda ep: ep.update(agent_pos=ep["agent_pos"][:-1]), "agent_pos must be"),
        (lambda ep: ep["attention"].__setitem__((0, 0), 2.0), "attention must lie"),
        (lambda ep: ep["agent_pos"].__setitem__((0, 0), np.nan), "NaN"),
    ],
)
def test_bad_episode_is_refused(tmp_path, change, message):
    ep = synthetic_episode(4, 16, seed=0)
    change(ep)
    with pytest.raises(DatasetError, match=message):
        _writer(tmp_path / "d.zarr").add_episode(ep, seed=0, success=True, **ATTRS)


def test_load_refuses_non_store(tmp_path):
    with pytest.raises(DatasetError, match="zarr"):
        load_store(tmp_path)


def test_sequence_indices_match_diffusion_policy_padding():
    # one episode of 5 steps, horizon 4, To 2 (pad 1 before), Ta 2 (pad 1 after)
    rows = sequence_indices(np.array([5]), 4, 1, 1)
    assert rows.tolist() == [[0, 3, 1, 4], [0, 4, 0, 4], [1, 5, 0, 4], [2, 5, 0, 3]]
    # windows never cross episodes
    rows = sequence_indices(np.array([5, 9]), 4, 1, 1)
    assert all((r[0] >= 5) == (r[1] > 5) for r in rows)


def test_windows_pad_with_edge_rows(tmp_path):
    writer = _writer(tmp_path / "d.zarr")
    ep = synthetic_episode(6, 16, seed=0)
    ep["action"][:, 0] = np.arange(6)
    ep["agent_pos"][:, 0] = np.arange(6) + 100
    writer.add_episode(ep, seed=0, success=True, **ATTRS)
    dataset = PolicyDataset(load_store(tmp_path / "d.zarr"), horizon=4, n_obs_steps=2, n_action_steps=2)
    assert len(dataset) == 5  # 6 steps - horizon 4 + 1, plus one padded window at each end
    first, last = dataset[0], dataset[len(dataset) - 1]
    assert first["action"][:, 0].tolist() == [0, 0, 1, 2]
    assert first["agent_pos"][:, 0].tolist() == [100, 100]
    assert last["action"][:, 0].tolist() == [3, 4, 5, 5]
    assert first["point_cloud"].shape == (2, 16, 3)
    assert first["attention"].shape == (2, 16)


def test_resampling_uses_crop_and_sample(tmp_path):
    writer = _writer(tmp_path / "d.zarr")
    writer.add_episode(synthetic_episode(6, 16, seed=0), seed=0, success=True, **ATTRS)
    store = load_store(tmp_path / "d.zarr")
    dataset = PolicyDataset(store, horizon=4, n_obs_steps=2, n_action_steps=2, n_points=8, seed=3)
    item = dataset[1]
    assert item["point_cloud"].shape == (2, 8, 3)
    # every sampled point (with its attention) comes from the stored frame
    stored = np.concatenate([store.data["point_cloud"][0], store.data["attention"][0][:, None]], axis=1)
    drawn = np.concatenate([item["point_cloud"][0], item["attention"][0][:, None]], axis=1)
    assert {tuple(row) for row in drawn.tolist()} <= {tuple(row) for row in stored.tolist()}
    np.testing.assert_array_equal(dataset[1]["point_cloud"], item["point_cloud"])


def test_normaliser_maps_range_to_unit_interval(tmp_path):
    values = np.array([[0.0, 5.0, 1.0], [2.0, 5.0, 3.0]], np.float32)
    stats = MinMax.fit(values)
    scale, offset = stats.scale_offset()
    normed = values * scale + offset
    np.testing.assert_allclose(normed[:, 0], [-1, 1])
    np.testing.assert_allclose(normed[:, 1], [0, 0])  # constant dimension is centred, not divided by 0
    writer = _writer(tmp_path / "d.zarr")
    for s in range(3):
        writer.add_episode(synthetic_episode(5, 16, seed=s), seed=s, success=True, **ATTRS)
    store = load_store(tmp_path / "d.zarr")
    mask = np.array([True, False, True])
    stats = fit_normalizer_stats(store, mask)
    rows = np.r_[0:5, 10:15]
    np.testing.assert_allclose(stats["action"].max, store.data["action"][rows].max(axis=0))


def test_split_keeps_training_episodes():
    mask = split_episodes(10, 0.2, seed=0)
    assert mask.sum() == 2
    assert split_episodes(1, 0.5, seed=0).sum() == 0
    assert split_episodes(2, 0.01, seed=0).sum() == 1
    np.testing.assert_array_equal(mask, split_episodes(10, 0.2, seed=0))
    with pytest.raises(DatasetError, match="val_ratio"):
        split_episodes(3, 1.0, seed=0)
