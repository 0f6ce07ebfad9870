import numpy as np
import pytest
from PIL import Image

from codediffuser_codegen.instruct import main
from codediffuser_codegen.observation import (
    Observation,
    load_observation,
    observation_from_objects,
    save_observation,
)
from codediffuser_perception.fusion import FusionConfig, fuse_views
from codediffuser_perception.synthetic import Box, SyntheticScene, four_view_rig
from codediffuser_perception.types import PerceptionError
from codediffuser_sim.instructions import SceneObject


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A Hang Mug scene rendered by four small cameras, fused, saved as an observation file."""
    boxes = [
        Box(1, "mug", (-0.1, -0.1, 0.04), (0.05, 0.05, 0.08), (220, 30, 30)),
        Box(2, "mug", (0.1, -0.1, 0.04), (0.05, 0.05, 0.08), (40, 70, 220)),
        Box(3, "branch", (-0.07, 0.12, 0.15), (0.05, 0.02, 0.02), (120, 80, 40)),
        Box(4, "branch", (0.0, 0.12, 0.15), (0.05, 0.02, 0.02), (120, 80, 40)),
        Box(5, "branch", (0.07, 0.12, 0.15), (0.05, 0.02, 0.02), (120, 80, 40)),
    ]
    views = four_view_rig(SyntheticScene(boxes), width=96, height=72)
    cloud = fuse_views(views, FusionConfig(workspace_min=(-0.3, -0.3, 0.001), voxel_size_m=0.006))
    objects = {
        1: {"category": "mug", "name": "red mug", "color": "red"},
        2: {"category": "mug", "name": "blue mug", "color": "blue"},
        3: {"category": "branch", "name": "left branch", "side": "left"},
        4: {"category": "branch", "name": "middle branch", "side": "middle"},
        5: {"category": "branch", "name": "right branch", "side": "right"},
    }
    path = tmp_path_factory.mktemp("obs") / "hang_mug.npz"
    save_observation(path, Observation(cloud=cloud, objects=objects))
    return path


def test_observation_round_trip(rendered):
    obs = load_observation(rendered)
    assert len(obs.cloud.views) == 4
    assert obs.cloud.views[0].segmentation is not None
    assert obs.objects[2]["color"] == "blue"
    assert obs.cloud.object_ids is not None
    again = rendered.with_name("again.npz")
    save_observation(again, obs)
    twice = load_observation(again)
    np.testing.assert_array_equal(twice.cloud.points, obs.cloud.points)
    np.testing.assert_array_equal(twice.cloud.views[3].rgb, obs.cloud.views[3].rgb)


def test_cli_prints_the_program_and_writes_pictures(rendered, tmp_path, capsys):
    rc = main(
        ["hang the blue mug on the left branch", "--observation", str(rendered), "--out", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "mug = sel_name(mug_candidates, 'blue mug')" in out
    assert "branch = sel_pos(branch_candidates, 'left')" in out
    assert "#2 mug 'blue mug'" in out
    assert "#3 branch 'left branch'" in out
    for name in ("attention.png", "composite.png"):
        with Image.open(tmp_path / name) as image:
            assert image.size[0] > 100


def test_cli_failures_are_reported_not_raised(rendered, tmp_path, capsys):
    assert (
        main(
            ["hang the green mug on the left branch", "--observation", str(rendered), "--out", str(tmp_path)]
        )
        == 1
    )
    assert "no candidate matches 'green mug'" in capsys.readouterr().err
    assert main(["juggle", "--observation", str(rendered)]) == 1
    assert main(["hang a mug", "--observation", str(tmp_path / "missing.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bare = tmp_path / "bare.npz"
    obs = observation_from_objects(
        [SceneObject(1, "mug", "red mug", (0, 0, 0), {"color": "red"})], np.random.default_rng(0)
    )
    obs.objects = {}
    save_observation(bare, obs)
    assert main(["hang a mug", "--observation", str(bare)]) == 2
    assert "metadata" in capsys.readouterr().err


def test_bad_observation_files_are_clear_errors(tmp_path):
    path = tmp_path / "junk.npz"
    np.savez(path, points=np.zeros((3, 3)))
    with pytest.raises(PerceptionError, match="missing arrays"):
        load_observation(path)
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    with pytest.raises(PerceptionError, match="not an observation"):
        load_observation(text)
