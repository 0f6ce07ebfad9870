import numpy as np
import pytest

from codediffuser_perception.geometry import matrix_to_rot6d
from codediffuser_policy.augment import WindowAugmentation
from codediffuser_policy.dataset import (
    DatasetError,
    DatasetWriter,
    PolicyDataset,
    fit_normalizer_stats,
    load_store,
)
from codediffuser_policy.kinematics import SIDES, load_arm_model
from codediffuser_policy.synthetic import WORKSPACE_MAX, WORKSPACE_MIN, synthetic_episode

ATTRS = {"task": "t", "level": "none", "instruction": "i", "attended": ["a"], "success": True}
JOINT_MIRROR = np.array([-1.0, 1.0, 1.0, -1.0, 1.0, -1.0])
"""Joint angles of the mirrored arm: waist, forearm roll and wrist rotate change sign."""


def _aloha(**options):
    return WindowAugmentation(np.stack([load_arm_model(side).base_pose for side in SIDES]), **options)


def _row(q_left, q_right, grippers=(0.3, 0.9)):
    """(20,) agent_pos/action row of the two arms' FK (base frames), as the recorder writes it."""
    row = []
    for side, q, gripper in zip(SIDES, (q_left, q_right), grippers, strict=True):
        T = load_arm_model(side).fk(q)
        row.extend([*T[:3, 3], *matrix_to_rot6d(T[:3, :3]), gripper])
    return np.asarray(row, np.float32)


def _store(tmp_path, steps=8):
    writer = DatasetWriter(tmp_path / "d.zarr", 16, 10.0, WORKSPACE_MIN, WORKSPACE_MAX)
    writer.add_episode(synthetic_episode(steps, 16, seed=0), seed=0, **ATTRS)
    return load_store(tmp_path / "d.zarr")


def test_mirrored_motion_is_the_other_arm_doing_the_mirrored_joint_motion():
    augmentation = _aloha(mirror=True)
    home = load_arm_model("right").home
    q = np.array([0.3, -0.4, 0.5, 0.2, 0.6, -0.3])
    mirrored = augmentation.mirror_poses(_row(q, home))
    # the left arm's move becomes the right arm's move with mirrored joints, and the right arm's home
    # pose becomes the left arm's mirrored home pose; grippers travel with their motion
    np.testing.assert_allclose(mirrored, _row(home * JOINT_MIRROR, q * JOINT_MIRROR, (0.9, 0.3)), atol=1e-5)
    np.testing.assert_allclose(augmentation.mirror_poses(mirrored), _row(q, home), atol=1e-5)


def test_shift_moves_each_arm_in_its_base_frame():
    augmentation = _aloha(translate_m=0.05)
    row = _row(np.zeros(6), np.zeros(6))
    moved = augmentation.shift_poses(row, np.array([0.03, -0.01, 0.0]))
    # the left base faces +x of the world, the right one (yaw 180°) faces -x
    np.testing.assert_allclose(moved[0:3] - row[0:3], [0.03, -0.01, 0.0], atol=1e-6)
    np.testing.assert_allclose(moved[10:13] - row[10:13], [-0.03, 0.01, 0.0], atol=1e-6)
    np.testing.assert_array_equal(moved[3:10], row[3:10])  # rotations and grippers stay
    np.testing.assert_array_equal(moved[13:20], row[13:20])


def test_bad_settings_are_refused():
    with pytest.raises(DatasetError, match="base_poses"):
        WindowAugmentation(np.eye(4))
    with pytest.raises(DatasetError, match="translate_m"):
        _aloha(translate_m=-0.01)
    lopsided = np.stack([load_arm_model(side).base_pose for side in SIDES])
    lopsided[1, 0, 3] += 0.05
    with pytest.raises(DatasetError, match="mirror image"):
        WindowAugmentation(lopsided, mirror=True)
    WindowAugmentation(lopsided, translate_m=0.05)  # shifting needs no symmetry


def test_augmented_window_keeps_scene_and_motion_together(tmp_path):
    store = _store(tmp_path)
    window = {"horizon": 4, "n_obs_steps": 2, "n_action_steps": 2, "n_points": 8, "seed": 3}
    augmentation = _aloha(translate_m=0.05, mirror=True)
    plain = PolicyDataset(store, **window)
    augmented = PolicyDataset(store, **window, augmentation=augmentation)
    flips = 0
    for index in range(len(plain)):
        a, b = plain[index], augmented[index]
        np.testing.assert_array_equal(a["attention"], b["attention"])  # the same points were drawn
        # a shift keeps the x difference of two points, a mirror negates it
        gap_before = float(a["point_cloud"][0, 0, 0] - a["point_cloud"][0, 1, 0])
        gap_after = float(b["point_cloud"][0, 0, 0] - b["point_cloud"][0, 1, 0])
        flip = gap_after == pytest.approx(-gap_before, abs=1e-5)
        flips += flip
        source = {k: a[k].numpy() for k in ("point_cloud", "agent_pos", "action")}
        if flip:
            source["point_cloud"] = source["point_cloud"] * np.array([-1.0, 1.0, 1.0], np.float32)
            source["agent_pos"] = augmentation.mirror_poses(source["agent_pos"])
            source["action"] = augmentation.mirror_poses(source["action"])
        offset = (b["point_cloud"].numpy() - source["point_cloud"]).reshape(-1, 3)
        np.testing.assert_allclose(offset, np.broadcast_to(offset[0], offset.shape), atol=1e-5)
        assert offset[0, 2] == pytest.approx(0.0, abs=1e-6)
        for key in ("agent_pos", "action"):
            np.testing.assert_allclose(
                b[key].numpy(), augmentation.shift_poses(source[key], offset[0]), atol=1e-4
            )
    assert 0 < flips < len(plain)


def test_epochs_draw_new_points_and_augmentations(tmp_path):
    dataset = PolicyDataset(
        _store(tmp_path),
        horizon=4,
        n_obs_steps=2,
        n_action_steps=2,
        n_points=8,
        seed=3,
        augmentation=_aloha(translate_m=0.05),
    )
    first = dataset[1]
    np.testing.assert_array_equal(dataset[1]["point_cloud"], first["point_cloud"])  # runs repeat
    dataset.set_epoch(1)
    second = dataset[1]
    assert not np.array_equal(second["point_cloud"], first["point_cloud"])
    assert not np.array_equal(second["action"], first["action"])


def test_statistics_cover_every_augmented_window(tmp_path):
    store = _store(tmp_path)
    augmentation = _aloha(translate_m=0.05, mirror=True)
    stats = fit_normalizer_stats(store, augmentation=augmentation)
    scale, offset = stats["action"].scale_offset()
    actions = store.data["action"]
    for rows in (actions, augmentation.mirror_poses(actions)):
        for corner in ([0.05, 0.05, 0], [0.05, -0.05, 0], [-0.05, 0.05, 0], [-0.05, -0.05, 0]):
            normed = augmentation.shift_poses(rows, np.array(corner)) * scale + offset
            assert normed.min() >= -1 - 1e-5
            assert normed.max() <= 1 + 1e-5
    plain = fit_normalizer_stats(store)["action"]
    assert np.all(stats["action"].min <= plain.min)
    assert np.all(stats["action"].max >= plain.max)
