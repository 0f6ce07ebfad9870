from __future__ import annotations

import json

import numpy as np
import pytest

from codediffuser_perception.oracle import OracleFeatureExtractor
from codediffuser_perception.references import ReferenceStore, reference_from_mask
from codediffuser_perception.types import PerceptionError


def test_reference_from_mask_averages_the_labelled_object(scene, views):
    oracle = OracleFeatureExtractor({b.object_id: b.category for b in scene.boxes}, instance_noise=0.0)
    maps = oracle.extract(views)
    mask = views[0].segmentation == 3
    np.testing.assert_allclose(reference_from_mask(maps, 0, mask), oracle.category_feature("mug"), atol=1e-6)
    with pytest.raises(PerceptionError, match="mask is empty"):
        reference_from_mask(maps, 0, np.zeros_like(mask))


def test_store_round_trip(tmp_path):
    store = ReferenceStore()
    store.add("battery", np.array([3.0, 4.0]), backend="oracle", source="obs.npz", n_pixels=12)
    store.add("mug", np.array([0.0, 2.0]), backend="oracle")
    store.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "battery.json",
        "battery.npz",
        "mug.json",
        "mug.npz",
    ]
    loaded = ReferenceStore.load(tmp_path)
    assert list(loaded) == ["battery", "mug"]
    np.testing.assert_allclose(loaded["battery"], [0.6, 0.8])
    assert loaded.info["battery"].n_pixels == 12
    assert loaded.info["battery"].source == "obs.npz"
    with pytest.raises(PerceptionError, match="no reference feature for category 'book'"):
        loaded["book"]


def test_store_rejects_bad_files_and_names(tmp_path):
    store = ReferenceStore()
    with pytest.raises(PerceptionError, match="category names"):
        store.add("Red Battery", np.ones(2), backend="oracle")
    with pytest.raises(PerceptionError, match="non-zero"):
        store.add("battery", np.zeros(2), backend="oracle")
    with pytest.raises(PerceptionError, match="no reference features"):
        ReferenceStore.load(tmp_path)
    store.add("battery", np.ones(4), backend="oracle")
    store.save(tmp_path)
    meta = json.loads((tmp_path / "battery.json").read_text())
    (tmp_path / "battery.json").write_text(json.dumps({**meta, "feature_dim": 8}))
    with pytest.raises(PerceptionError, match="json says"):
        ReferenceStore.load(tmp_path)
    (tmp_path / "battery.npz").unlink()
    with pytest.raises(PerceptionError, match="no matching"):
        ReferenceStore.load(tmp_path)


def test_oracle_reference_store(scene):
    oracle = OracleFeatureExtractor({b.object_id: b.category for b in scene.boxes})
    store = oracle.references()
    assert list(store) == ["battery", "mug"]
    np.testing.assert_array_equal(store["mug"], oracle.category_feature("mug"))
    assert store.info["mug"].backend == "oracle:seed=0"
