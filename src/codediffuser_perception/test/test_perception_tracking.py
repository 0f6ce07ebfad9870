from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from codediffuser_perception.attention import dilate
from codediffuser_perception.detect import detect
from codediffuser_perception.features import fuse_features
from codediffuser_perception.fusion import FusionConfig, fuse_views
from codediffuser_perception.masks import OracleMaskPredictor
from codediffuser_perception.oracle import OracleFeatureExtractor
from codediffuser_perception.synthetic import SyntheticScene, four_view_rig
from codediffuser_perception.tracking import AttentionTracker, TrackingLostError, track_instances


def observe(scene: SyntheticScene, oracle: OracleFeatureExtractor):
    return fuse_features(fuse_views(four_view_rig(scene), FusionConfig(voxel_size_m=0.004)), oracle)


def moved(scene: SyntheticScene, shifts: dict[int, tuple[float, float]], yaw: float = 0.0) -> SyntheticScene:
    boxes = [
        dataclasses.replace(
            b,
            center=(b.center[0] + shifts[b.object_id][0], b.center[1] + shifts[b.object_id][1], b.center[2]),
            yaw=b.yaw + yaw,
        )
        if b.object_id in shifts
        else b
        for b in scene.boxes
    ]
    return SyntheticScene(boxes=boxes)


@pytest.fixture(scope="module")
def oracle(scene) -> OracleFeatureExtractor:
    return OracleFeatureExtractor({b.object_id: b.category for b in scene.boxes})


@pytest.fixture(scope="module")
def references(oracle):
    return {c: oracle.category_feature(c) for c in ("battery", "mug")}


@pytest.fixture(scope="module")
def first(scene, oracle):
    return observe(scene, oracle)


def test_attention_follows_moving_objects(scene, oracle, references, first):
    battery = detect(first, references, "battery")[0]
    mug = detect(first, references, "mug")[0]
    tracker = AttentionTracker(references, OracleMaskPredictor())
    tracker.start(first, [battery, mug], values=[1.0, 0.5])
    # the selected battery moves 5 cm right (towards the other battery) and turns; the mug slides back
    second = observe(moved(scene, {1: (0.05, 0.0), 3: (0.0, 0.04)}, yaw=0.3), oracle)
    attention = tracker.update(second).values
    assert [i.id for i in tracker.instances] == [battery.id, mug.id]
    assert [i.metadata["object_id"] for i in tracker.instances] == ["1", "3"]
    for object_id, value in ((1, 1.0), (3, 0.5)):
        truth = dilate(second.points, second.object_ids == object_id, 0.016)
        attended = attention == value
        assert (attended & truth).sum() / (attended | truth).sum() >= 0.85
    assert np.all(attention[second.object_ids == 2] == 0.0)


def test_tracking_reports_lost_instances(scene, oracle, references, first):
    battery = detect(first, references, "battery")[0]
    far = observe(moved(scene, {1: (0.0, -0.25)}), oracle)
    with pytest.raises(TrackingLostError, match="lost #0 battery"):
        track_instances([battery], first, far, references)
