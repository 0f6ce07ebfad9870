from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from codediffuser_perception.detect import DetectConfig, Detector, detect
from codediffuser_perception.features import fuse_features
from codediffuser_perception.oracle import OracleFeatureExtractor
from codediffuser_perception.types import PerceptionError


@pytest.fixture(scope="module")
def oracle(scene) -> OracleFeatureExtractor:
    return OracleFeatureExtractor({b.object_id: b.category for b in scene.boxes})


@pytest.fixture(scope="module")
def featured(cloud, oracle):
    return fuse_features(cloud, oracle)


@pytest.fixture(scope="module")
def references(oracle) -> dict[str, np.ndarray]:
    return {c: oracle.category_feature(c) for c in ("battery", "mug")}


@pytest.mark.parametrize(("category", "object_ids"), [("battery", [1, 2]), ("mug", [3])])
def test_detect_finds_each_instance(scene, featured, references, category, object_ids):
    found = detect(featured, references, category)
    assert [int(i.metadata["object_id"]) for i in found] == object_ids  # ordered left to right
    assert [i.id for i in found] == list(range(len(object_ids)))
    for inst, object_id in zip(found, object_ids, strict=True):
        box = next(b for b in scene.boxes if b.object_id == object_id)
        truth = featured.points[featured.object_ids == object_id]
        assert np.linalg.norm(inst.centroid - truth.mean(axis=0)) < 0.01
        assert np.linalg.norm(inst.centroid[:2] - np.asarray(box.center[:2])) < 0.01
        assert np.all(inst.bbox_min <= inst.centroid)
        assert np.all(inst.centroid <= inst.bbox_max)
        assert inst.category == category
        assert 0.85 <= inst.score <= 1.0
        assert np.mean(featured.object_ids[inst.indices] == object_id) > 0.97


def test_detect_is_deterministic(featured, references):
    a = detect(featured, references, "battery")
    b = Detector(references)(featured, "battery")  # the code generator's (cloud, category) backend
    assert [i.id for i in a] == [i.id for i in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.indices, y.indices)


def test_small_clusters_are_dropped(featured, references):
    features = featured.features.copy()
    speck = np.argsort(np.linalg.norm(featured.points - np.array([0.3, -0.2, 0.0]), axis=1))[:10]
    assert np.all(featured.object_ids[speck] == 0)  # ten table points far from every box
    features[speck] = references["battery"]
    noisy = dataclasses.replace(featured, features=features)
    assert len(detect(noisy, references, "battery")) == 2
    assert len(detect(noisy, references, "battery", DetectConfig(min_cluster_fraction=0.0))) == 3


def test_detect_errors(cloud, featured, references):
    with pytest.raises(PerceptionError, match="unknown category 'book'"):
        detect(featured, references, "book")
    with pytest.raises(PerceptionError, match="dimension 8"):
        detect(featured, {"battery": np.ones(8)}, "battery")
    with pytest.raises(PerceptionError, match="no features"):
        detect(cloud, references, "battery")
    with pytest.raises(PerceptionError, match="threshold"):
        DetectConfig(threshold=0.0)
    with pytest.raises(PerceptionError, match="eps_m"):
        DetectConfig(eps_m=-1.0)
