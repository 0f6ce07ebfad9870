from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from codediffuser_perception.fusion import FusionConfig, fuse_views
from codediffuser_perception.synthetic import TABLE_ID
from codediffuser_perception.types import PerceptionError


def test_fused_points_lie_on_true_surfaces(scene, cloud):
    distance = scene.surface_distance(cloud.points)
    assert distance.max() < 0.002
    lo, hi = np.asarray(FusionConfig().workspace_min), np.asarray(FusionConfig().workspace_max)
    assert np.all((cloud.points >= lo) & (cloud.points <= hi))
    assert cloud.features is None
    assert cloud.points.dtype == np.float32
    assert cloud.colors.dtype == np.uint8


def test_every_box_is_recovered_with_its_id_and_colour(scene, cloud):
    for box in scene.boxes:
        on_box = box.contains(cloud.points, margin_m=0.001) & (cloud.points[:, 2] > 0.004)
        assert on_box.sum() > 100, box
        assert np.mean(cloud.object_ids[on_box] == box.object_id) > 0.99
        assert np.abs(cloud.colors[on_box].astype(int) - np.asarray(box.color)).max() <= 1
    off_boxes = ~np.any([b.contains(cloud.points, margin_m=0.003) for b in scene.boxes], axis=0)
    assert np.all(cloud.object_ids[off_boxes] == TABLE_ID)


def test_voxel_size_bounds_density(views):
    # the table top (z = 0) sits mid-voxel, so float noise cannot split it across a voxel boundary
    config = FusionConfig(voxel_size_m=0.01, workspace_min=(-0.5, -0.4, -0.025), outlier_neighbors=0)
    coarse = fuse_views(views, config)
    keys = np.floor((coarse.points - np.asarray(config.workspace_min)) / 0.01).astype(np.int64)
    assert len(np.unique(keys, axis=0)) == len(coarse)
    assert len(coarse) < len(fuse_views(views, dataclasses.replace(config, voxel_size_m=0.005)))


def test_outlier_removal_drops_isolated_points(views):
    view = dataclasses.replace(views[0])
    depth = view.depth.copy()
    depth[60, 80] = depth[60, 80] * 0.5  # a flying pixel halfway to the camera
    noisy = [dataclasses.replace(view, depth=depth), *views[1:]]
    config = FusionConfig(voxel_size_m=0.004, workspace_max=(0.5, 0.4, 1.0))
    without = fuse_views(noisy, dataclasses.replace(config, outlier_neighbors=0))
    cleaned = fuse_views(noisy, config)
    far = lambda c: np.sum(c.points[:, 2] > 0.15)  # noqa: E731 - nothing in the scene is above 10 cm
    assert far(without) >= 1
    assert far(cleaned) == 0


def test_bad_views_raise(views):
    with pytest.raises(PerceptionError, match="no camera views"):
        fuse_views([])
    with pytest.raises(PerceptionError, match="duplicate"):
        fuse_views([views[0], views[0]])
    with pytest.raises(PerceptionError, match=r"missing \['cam3'\]"):
        fuse_views(views[:3], FusionConfig(camera_names=("cam0", "cam1", "cam2", "cam3")))
    with pytest.raises(PerceptionError, match="no valid depth"):
        fuse_views([dataclasses.replace(views[0], depth=np.full_like(views[0].depth, np.nan)), *views[1:]])
    with pytest.raises(PerceptionError, match="segmentation present"):
        fuse_views([dataclasses.replace(views[0], segmentation=None), *views[1:]])
    shifted = views[0].T_world_cam.copy()
    shifted[2, 3] += 10.0
    with pytest.raises(PerceptionError, match="workspace"):
        fuse_views([dataclasses.replace(views[0], T_world_cam=shifted)])
    skewed = views[0].T_world_cam.copy()
    skewed[:3, 0] *= 2.0
    with pytest.raises(PerceptionError, match="rotation"):
        fuse_views([dataclasses.replace(views[0], T_world_cam=skewed)])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("voxel_size_m", 0.0, "voxel_size_m"),
        ("workspace_min", (0.0, 0.0, 1.0), "workspace_min must be <"),
        ("workspace_max", (1.0, 1.0), "3 finite"),
        ("outlier_neighbors", -1, "outlier_neighbors"),
        ("outlier_std_ratio", 0.0, "outlier_std_ratio"),
    ],
)
def test_config_validation(field, value, message):
    with pytest.raises(PerceptionError, match=message):
        FusionConfig(**{field: value})
