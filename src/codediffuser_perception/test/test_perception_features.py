from __future__ import annotations

import numpy as np
import pytest
import torch

from codediffuser_perception.camera import visibility_weight
from codediffuser_perception.dinov2 import DINOV2_ENV, Dinov2Extractor
from codediffuser_perception.features import FeatureExtractor, PatchFeatureMaps, fuse_features
from codediffuser_perception.oracle import OracleFeatureExtractor
from codediffuser_perception.types import PerceptionError


def test_visibility_weight_follows_d3fields():
    gap = np.array([0.0, 0.02, 0.04, 0.06, np.inf])
    np.testing.assert_allclose(visibility_weight(gap, 0.02), [1.0, 1.0, np.exp(-1), np.exp(-2), 0.0])


def test_dinov2_loads_from_disk_and_returns_patch_maps(tiny_dinov2, views, monkeypatch):
    monkeypatch.setenv(DINOV2_ENV, tiny_dinov2)
    extractor = Dinov2Extractor(short_side_px=56)  # the path comes from the environment variable
    assert isinstance(extractor, FeatureExtractor)
    assert extractor.input_size(120, 160) == (56, 70)
    maps = extractor.extract(views)
    assert tuple(maps.maps.shape) == (4, 16, 4, 5)  # (V, D, h, w): one batch, patch grid 56×70 / 14
    again = extractor.extract(views)
    assert torch.equal(maps.maps, again.maps)
    single = extractor.extract(views[2:3])
    torch.testing.assert_close(single.maps[0], maps.maps[2], atol=1e-5, rtol=1e-5)


def test_patch_sampling_equals_bilinear_upsampling():
    torch.manual_seed(1)
    grid = torch.randn(2, 3, 4, 5)
    maps = PatchFeatureMaps(maps=grid, image_size=(24, 30))
    upsampled = torch.nn.functional.interpolate(grid, size=(24, 30), mode="bilinear", align_corners=False)
    rows, cols = np.mgrid[0:24, 0:30]
    uv = np.stack([cols.ravel(), rows.ravel()], axis=1)
    sampled = maps.sample(1, uv)  # (H*W, D)
    np.testing.assert_allclose(sampled, upsampled[1].permute(1, 2, 0).reshape(-1, 3).numpy(), atol=1e-5)


def test_dinov2_feature_cloud_is_normalised(tiny_dinov2, cloud):
    extractor = Dinov2Extractor(tiny_dinov2, device="cpu", short_side_px=56)
    featured = fuse_features(cloud, extractor)
    assert featured.features.shape == (len(cloud), 16)
    assert featured.features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(featured.features, axis=1), 1.0, atol=1e-5)
    assert cloud.features is None  # fuse_features returns a new cloud


def test_oracle_features_separate_categories_and_instances(scene, cloud):
    extractor = OracleFeatureExtractor({b.object_id: b.category for b in scene.boxes}, feature_dim=32)
    assert isinstance(extractor, FeatureExtractor)
    featured = fuse_features(cloud, extractor)
    battery = extractor.category_feature("battery")
    cos = featured.features @ battery
    on_batteries = np.isin(cloud.object_ids, [1, 2])
    assert cos[on_batteries].mean() > 0.95
    assert np.mean(cos[~on_batteries] < 0.5) > 0.99  # only points at a box's foot blend in a little
    first, second = extractor.object_feature(1), extractor.object_feature(2)
    assert 0.95 < float(first @ second) < 1.0 - 1e-4  # same category, distinct instances
    np.testing.assert_array_equal(OracleFeatureExtractor({1: "battery"}).category_feature("battery"), battery)


def test_occluded_views_do_not_leak_features(scene, cloud):
    """A table point hidden behind a box in one view must not take that box's feature from it."""
    extractor = OracleFeatureExtractor({b.object_id: b.category for b in scene.boxes}, instance_noise=0.0)
    featured = fuse_features(cloud, extractor)
    table = extractor.category_feature("background")
    on_table = cloud.object_ids == 0
    assert np.mean(featured.features[on_table] @ table > 0.99) > 0.99


def test_feature_errors(cloud, views):
    with pytest.raises(PerceptionError, match="extractor or precomputed"):
        fuse_features(cloud)
    no_seg = [type(v)(v.name, v.rgb, v.depth, v.K, v.T_world_cam) for v in views]
    with pytest.raises(PerceptionError, match="needs segmentation"):
        OracleFeatureExtractor({1: "battery"}).extract(no_seg)
