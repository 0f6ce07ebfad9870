import numpy as np
import pytest
from PIL import Image

from codediffuser_codegen.api import PerceptionAPI
from codediffuser_codegen.backends import feature_detector
from codediffuser_codegen.instruct import main
from codediffuser_codegen.observation import (
    Observation,
    load_observation,
    observation_from_objects,
    save_observation,
)
from codediffuser_codegen.oracle import match_metadata, with_object_metadata
from codediffuser_codegen.pipeline import OfflineWriter, run_instruction
from codediffuser_codegen.sandbox import Sandbox
from codediffuser_perception.attention import compute_attention
from codediffuser_perception.features import fuse_features
from codediffuser_perception.fusion import FusionConfig, fuse_views
from codediffuser_perception.masks import OracleMaskPredictor
from codediffuser_perception.oracle import OracleFeatureExtractor
from codediffuser_perception.references import ReferenceStore
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
    oracle = OracleFeatureExtractor({b.object_id: b.category for b in boxes})
    cloud = fuse_features(cloud, oracle)
    objects = {
        1: {"category": "mug", "name": "red mug", "color": "red"},
        2: {"category": "mug", "name": "blue mug", "color": "blue"},
        3: {"category": "branch", "name": "left branch", "side": "left"},
        4: {"category": "branch", "name": "middle branch", "side": "middle"},
        5: {"category": "branch", "name": "right branch", "side": "right"},
    }
    path = tmp_path_factory.mktemp("obs") / "hang_mug.npz"
    save_observation(path, Observation(cloud=cloud, objects=objects))
    references = tmp_path_factory.mktemp("references")
    oracle.references().save(references)
    return path, references


def test_observation_round_trip(rendered):
    rendered, _ = rendered
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
    np.testing.assert_array_equal(twice.cloud.features, obs.cloud.features)


def test_cli_prints_the_program_and_writes_pictures(rendered, tmp_path, capsys):
    rendered, _ = rendered
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


def test_cli_with_the_feature_detector(rendered, tmp_path, capsys):
    path, references = rendered
    argv = ["put the red mug on the branch on the right", "--observation", str(path), "--out", str(tmp_path)]
    assert main([*argv, "--references", str(references)]) == 0
    out = capsys.readouterr().out
    assert "'red mug' at (-0.1" in out
    assert "'right branch' at (+0.07" in out
    assert main([*argv, "--references", str(tmp_path / "nowhere")]) == 2


def test_cli_with_a_vlm_endpoint(rendered, stub, tmp_path, capsys):
    path, _ = rendered
    program = "mugs = detect('mug')\nbranches = detect('branch')\nattend(sel_name(mugs, 'blue mug'), sel_pos(branches, 'left'))"
    stub.script = [f"```python\n{program}\n```", "2"]
    argv = ["hang the blue mug on the left branch", "--observation", str(path), "--out", str(tmp_path)]
    assert main([*argv, "--model", "stub-vlm", "--base-url", stub.base_url]) == 0
    assert "#2 mug 'blue mug'" in capsys.readouterr().out
    assert [r["messages"][0]["role"] for r in stub.requests] == ["system", "system"]
    assert stub.requests[1]["messages"][1]["content"][1]["type"] == "image_url"


def test_selected_instances_become_attention_with_the_mask_backend(rendered):
    path, references = rendered
    obs = load_observation(path)
    detect = with_object_metadata(feature_detector(ReferenceStore.load(references)), obs.objects)
    api = PerceptionAPI(obs.cloud, detect, match_metadata)
    result = run_instruction("hang the blue mug on the middle branch", api, OfflineWriter(), Sandbox())
    assert result.success, result.message
    assert [i.metadata["name"] for i in result.attended] == ["blue mug", "middle branch"]
    attention = compute_attention(obs.cloud, result.attended, OracleMaskPredictor()).values
    chosen = np.isin(obs.cloud.object_ids, [2, 4])
    assert attention[chosen].mean() > 0.9
    assert attention[np.isin(obs.cloud.object_ids, [1, 3, 5])].mean() < 0.1


def test_cli_failures_are_reported_not_raised(rendered, tmp_path, capsys):
    rendered, _ = rendered
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
