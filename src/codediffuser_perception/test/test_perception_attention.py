from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from codediffuser_perception.attention import (
    AttentionConfig,
    compute_attention,
    dilate,
    ground_truth_attention,
)
from codediffuser_perception.detect import detect
from codediffuser_perception.features import fuse_features
from codediffuser_perception.masks import (
    MaskPredictor,
    MaskPrompt,
    OracleMaskPredictor,
    SamMaskPredictor,
    SegmentAnythingPredictor,
    instance_prompts,
)
from codediffuser_perception.oracle import OracleFeatureExtractor
from codediffuser_perception.types import PerceptionError


@pytest.fixture(scope="module")
def featured(scene, cloud):
    return fuse_features(cloud, OracleFeatureExtractor({b.object_id: b.category for b in scene.boxes}))


@pytest.fixture(scope="module")
def instances(scene, featured):
    oracle = OracleFeatureExtractor({b.object_id: b.category for b in scene.boxes})
    refs = {c: oracle.category_feature(c) for c in ("battery", "mug")}
    return {int(i.metadata["object_id"]): i for c in refs for i in detect(featured, refs, c)}


@pytest.mark.parametrize(("object_ids", "dilation_m"), [([1], 0.016), ([3], 0.0), ([2, 3], 0.016)])
def test_oracle_attention_matches_ground_truth(featured, instances, object_ids, dilation_m):
    selected = [instances[i] for i in object_ids]
    config = AttentionConfig(dilation_m=dilation_m)
    attention = compute_attention(featured, selected, OracleMaskPredictor(), config).values
    assert attention.shape == (len(featured),)
    truth = dilate(featured.points, np.isin(featured.object_ids, object_ids), dilation_m)
    np.testing.assert_array_equal(ground_truth_attention(featured, object_ids, dilation_m).values > 0, truth)
    attended = attention > 0
    assert (attended & truth).sum() / (attended | truth).sum() >= 0.9


def test_attention_values_mark_roles(featured, instances):
    attention = compute_attention(
        featured,
        [instances[1], instances[3]],
        OracleMaskPredictor(),
        AttentionConfig(dilation_m=0.0),
        values=[1.0, 0.5],
    ).values
    assert np.mean(attention[featured.object_ids == 1] == 1.0) > 0.95
    assert np.mean(attention[featured.object_ids == 3] == 0.5) > 0.95
    assert np.all(attention[featured.object_ids == 2] == 0.0)
    assert np.all(compute_attention(featured, [], OracleMaskPredictor()).values == 0.0)


def test_dilate_uses_metric_radius():
    points = np.array([[0.0, 0, 0], [0.015, 0, 0], [0.017, 0, 0], [0.5, 0, 0]])
    np.testing.assert_array_equal(dilate(points, np.array([True, False, False, False]), 0.016), [1, 1, 0, 0])


def test_prompts_box_the_visible_object(featured, instances):
    prompts = instance_prompts(featured, [instances[3]], pad_px=10.0)
    for view, row in zip(featured.views, prompts, strict=True):
        rows, cols = np.nonzero(view.segmentation == 3)
        x0, y0, x1, y1 = row[0].box
        assert row[0].object_id == 3
        assert x0 <= cols.min() - 7
        assert y0 <= rows.min() - 7
        assert x1 >= min(cols.max() + 7, view.width - 1)
        assert y1 >= min(rows.max() + 7, view.height - 1)
        assert x0 >= cols.min() - 13
        assert x1 <= cols.max() + 13


def test_attention_errors(featured, instances):
    foreign = instances[1]
    bad = type(foreign)(**{**foreign.__dict__, "indices": np.array([len(featured) + 3])})
    with pytest.raises(PerceptionError, match="does not index"):
        compute_attention(featured, [bad], OracleMaskPredictor())
    with pytest.raises(PerceptionError, match="values"):
        compute_attention(featured, [foreign], OracleMaskPredictor(), values=[0.0])
    with pytest.raises(PerceptionError, match="object_ids"):
        ground_truth_attention(type(featured)(featured.points, featured.colors), [1])
    with pytest.raises(PerceptionError, match="min_view_fraction"):
        AttentionConfig(min_view_fraction=0.0)


def test_sam_backend_loads_from_disk_and_predicts_batched_masks(tiny_sam, featured, instances):
    predictor = SamMaskPredictor(tiny_sam, device="cpu")
    assert isinstance(predictor, MaskPredictor)
    views = featured.views
    prompts = instance_prompts(featured, [instances[1], instances[3]])
    prompts[2][0] = None  # an instance not visible in one view
    masks = predictor.predict(views, prompts)
    assert masks.shape == (4, 2, views[0].height, views[0].width)
    assert masks.dtype == bool
    assert not masks[2, 0].any()
    np.testing.assert_array_equal(masks, predictor.predict(views, prompts))
    attention = compute_attention(featured, [instances[1]], predictor)
    assert attention.values.shape == (len(featured),)


def test_segment_anything_backend(monkeypatch, views):
    monkeypatch.setitem(sys.modules, "segment_anything", None)
    with pytest.raises(PerceptionError, match="not importable"):
        SegmentAnythingPredictor("sam_vit_b.pth")

    class FakePredictor:  # the official SamPredictor's interface
        def __init__(self, model):
            self.images = 0

        def set_image(self, image):
            self.images += 1
            self.shape = image.shape[:2]

        def predict(self, box, multimask_output, return_logits):
            logits = np.full((1, *self.shape), -5.0)
            x0, y0, x1, y1 = box.astype(int)
            logits[0, y0 : y1 + 1, x0 : x1 + 1] = 5.0
            return logits, np.ones(1), logits

    fake = types.ModuleType("segment_anything")
    fake.SamPredictor = FakePredictor
    fake.sam_model_registry = {"vit_b": lambda checkpoint: types.SimpleNamespace(to=lambda device: None)}
    monkeypatch.setitem(sys.modules, "segment_anything", fake)
    predictor = SegmentAnythingPredictor("sam_vit_b.pth")
    prompts = [[MaskPrompt(np.array([10.0, 20.0, 29.0, 39.0]))], [None], [None], [None]]
    masks = predictor.predict(views, prompts)
    assert masks[0, 0].sum() == 400
    assert not masks[1:].any()
    assert predictor.predictor.images == 1
