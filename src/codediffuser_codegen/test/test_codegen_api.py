import numpy as np
import pytest

from codediffuser_codegen.api import PerceptionAPI, SelectionError, select_by_relation
from codediffuser_codegen.observation import observation_from_objects
from codediffuser_codegen.oracle import match_metadata, metadata_detector
from codediffuser_perception.types import Instance
from codediffuser_sim.instructions import SceneObject


def _inst(i, x, y, **meta):
    c = np.array([x, y, 0.0], dtype=np.float32)
    return Instance(i, "slot", np.arange(1), c, c - 0.01, c + 0.01, metadata=meta)


# a 2 × 3 tray: front row y = 0.10, back row y = 0.145; columns x = -0.05, 0, 0.05
TRAY = [_inst(10 * r + c, -0.05 + 0.05 * c, 0.10 + 0.045 * r) for r in range(2) for c in range(3)]


@pytest.mark.parametrize(
    ("relation", "expected"),
    [
        ("left", 0),
        ("leftmost", 0),
        ("right", 2),
        ("Rightmost", 2),
        ("front", 0),  # ties in y break by candidate order
        ("back", 10),
        ("front left", 0),
        ("front right", 2),
        ("back left", 10),
        ("back right", 12),
        ("back row, 2nd from left", 11),
        ("front 3 from left", 2),
        ("front row second from right", 1),
        ("back middle", 11),
        ("closest to left arm", 0),
        ("closest to the right arm", 2),
    ],
)
def test_sel_pos_relations_follow_the_world_frame(relation, expected):
    assert select_by_relation(TRAY, relation).id == expected


def test_nearest_and_farthest_need_an_anchor_and_exclude_it():
    api = PerceptionAPI(None, lambda cloud, c: TRAY, match_metadata)
    anchor = TRAY[4]  # back middle
    assert api.sel_pos(TRAY, "nearest", anchor).id in (1, 10, 12)
    assert api.sel_pos(TRAY, "nearest", anchor).id == 1  # 4.5 cm in front beats 5 cm to the sides
    assert api.sel_pos(TRAY, "farthest", anchor).id == 0
    with pytest.raises(SelectionError, match="needs an anchor"):
        api.sel_pos(TRAY, "nearest")
    with pytest.raises(SelectionError, match="anchor itself"):
        api.sel_pos([anchor], "nearest", anchor)


@pytest.mark.parametrize("relation", ["upwards", "", "front row", "9th from left", "left and right"])
def test_bad_relations_are_clear_errors(relation):
    with pytest.raises(SelectionError, match="sel_pos"):
        select_by_relation(TRAY, relation)


def test_bound_api_detects_selects_and_attends():
    objects = [
        SceneObject(1, "mug", "red mug", (-0.1, 0.0, 0.05), {"color": "red"}),
        SceneObject(2, "mug", "blue mug", (0.1, 0.0, 0.05), {"color": "blue"}),
        SceneObject(5, "branch", "left branch", (-0.06, 0.15, 0.2), {"side": "left"}),
        SceneObject(6, "branch", "right branch", (0.06, 0.15, 0.2), {"side": "right", "occupied": "true"}),
    ]
    obs = observation_from_objects(objects, np.random.default_rng(0))
    api = PerceptionAPI(obs.cloud, metadata_detector(obs.objects), match_metadata)
    mugs = api.detect("mug")
    assert [m.id for m in mugs] == [1, 2]
    np.testing.assert_allclose(mugs[0].centroid, (-0.1, 0.0, 0.05), atol=0.011)
    assert api.sel_name(mugs, "the blue mug").id == 2
    branches = api.detect("branch")
    assert api.sel_name(branches, "free branch").id == 5
    assert api.sel_name(branches, "occupied branch").id == 6
    assert api.sel_pos(branches, "right").id == 6
    api.attend(mugs[1], branches[0])
    assert [i.id for i in api.attended] == [2, 5]
    assert len(api.log) == 7
    with pytest.raises(SelectionError, match="no candidate matches 'green mug'"):
        api.sel_name(mugs, "green mug")
    with pytest.raises(SelectionError, match="unknown category 'cup'"):
        api.detect("cup")
    with pytest.raises(SelectionError, match="no candidates"):
        api.sel_pos([], "left")
    with pytest.raises(SelectionError, match="non-empty"):
        api.sel_name(mugs, "  ")
    with pytest.raises(SelectionError, match="at least one"):
        api.attend()


def test_detect_is_cached_per_observation():
    calls = []

    def backend(cloud, category):
        calls.append(category)
        return TRAY

    api = PerceptionAPI(None, backend, match_metadata)
    api.detect("slot")
    api.detect("Slot ")
    assert calls == ["slot"]
    assert all(api.instance(api.handle(i)) is i for i in TRAY)
    with pytest.raises(SelectionError, match="did not come from detect"):
        api.handle(_inst(99, 0, 0))
    with pytest.raises(SelectionError, match="no detected instance"):
        api.instance(len(TRAY))
