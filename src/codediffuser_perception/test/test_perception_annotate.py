from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from codediffuser_perception.annotate import main
from codediffuser_perception.dinov2 import Dinov2Extractor
from codediffuser_perception.observation import load_views, save_views
from codediffuser_perception.references import ReferenceStore, reference_from_mask


def test_annotate_from_observation_with_mask_and_box(tmp_path, views, tiny_dinov2, capsys):
    save_views(tmp_path / "obs.npz", views)
    mask = views[1].segmentation == 3
    Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / "mug.png")
    rc = main(
        [
            "--observation", str(tmp_path / "obs.npz"), "--view", "cam1",
            "--label", f"mug={tmp_path / 'mug.png'}", "--label", "battery=box:10,20,30,40",
            "--out", str(tmp_path / "refs"), "--model", tiny_dinov2, "--short-side", "56",
        ]
    )  # fmt: skip
    assert rc == 0
    assert "mug: 16-d reference" in capsys.readouterr().out
    store = ReferenceStore.load(tmp_path / "refs")
    assert list(store) == ["battery", "mug"]
    maps = Dinov2Extractor(tiny_dinov2, short_side_px=56).extract([views[1]])
    np.testing.assert_allclose(store["mug"], reference_from_mask(maps, 0, mask), atol=1e-5)
    assert store.info["mug"].n_pixels == int(mask.sum())
    assert store.info["battery"].n_pixels == 21 * 21
    assert store.info["mug"].backend == f"dinov2:{tiny_dinov2}"
    assert store.info["mug"].source.endswith("obs.npz#cam1")


def test_annotate_from_image_extends_a_store(tmp_path, views, tiny_dinov2):
    Image.fromarray(views[0].rgb).save(tmp_path / "table.png")
    common = ["--image", str(tmp_path / "table.png"), "--out", str(tmp_path / "refs"), "--model", tiny_dinov2]
    assert main([*common, "--label", "battery=box:0,0,40,40", "--short-side", "56"]) == 0
    assert main([*common, "--label", "mug=box:50,50,90,90", "--short-side", "56"]) == 0
    assert list(ReferenceStore.load(tmp_path / "refs")) == ["battery", "mug"]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("battery=box:0,0,400,10", "not inside"),
        ("battery=box:1,2,3", "four integers"),
        ("Battery=box:0,0,1,1", "category names"),
        ("battery", "CATEGORY=MASK"),
        ("battery=missing.png", "does not exist"),
    ],
)
def test_annotate_rejects_bad_labels(tmp_path, views, tiny_dinov2, capsys, label, message):
    Image.fromarray(views[0].rgb).save(tmp_path / "table.png")
    rc = main(
        [
            "--image",
            str(tmp_path / "table.png"),
            "--label",
            label,
            "--out",
            str(tmp_path),
            "--model",
            tiny_dinov2,
        ]
    )
    assert rc == 2
    assert message in capsys.readouterr().err


def test_observation_round_trip(tmp_path, views):
    save_views(tmp_path / "obs.npz", views)
    loaded = load_views(tmp_path / "obs.npz")
    assert [v.name for v in loaded] == [v.name for v in views]
    for a, b in zip(loaded, views, strict=True):
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.depth, b.depth)
        np.testing.assert_array_equal(a.segmentation, b.segmentation)
        np.testing.assert_array_equal(a.T_world_cam, b.T_world_cam)
