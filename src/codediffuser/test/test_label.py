"""Labelling: clicks → tracked instances → attention in the store; the web page driven over HTTP."""

import json
import threading
import urllib.parse
import urllib.request

import numpy as np
import pytest

from codediffuser import label
from codediffuser.label import AttendedLabel, EpisodeLabel, LabelError, TrackConfig
from codediffuser.label_ui import TopView, make_server
from codediffuser_policy.dataset import DatasetWriter, load_store

N_STEPS, N_TABLE, N_BOX = 12, 300, 120
WS_MIN, WS_MAX = (-0.5, -0.4, -0.02), (0.5, 0.4, 0.5)
STATIC_B = np.array([0.12, 0.08, 0.04])
TRAY = np.array([0.25, -0.15, 0.02])  # a 20 × 10 × 4 cm tray whose "slots" are regions of it
N_TRAY = 200


def box_points(rng, centre, size=(0.04, 0.04, 0.08), n=N_BOX):
    return centre + rng.uniform(-0.5, 0.5, (n, 3)) * size


def moving_a(step):
    """Box A slides right, then is lifted (as if grasped): 1.5 cm per step."""
    return np.array([-0.15 + 0.015 * step, 0.05, 0.04 + (0.015 * (step - 6) if step > 6 else 0.0)])


def episode_steps(seed=0):
    """(S, N, 3) clouds with membership: 0 table, 1 box A (moving), 2 box B (static), 3 tray."""
    rng = np.random.default_rng(seed)
    clouds, owners = [], []
    for step in range(N_STEPS):
        table = np.column_stack(
            [rng.uniform(-0.45, 0.45, N_TABLE), rng.uniform(-0.35, 0.35, N_TABLE), np.zeros(N_TABLE)]
        )
        tray = box_points(rng, TRAY, size=(0.2, 0.1, 0.04), n=N_TRAY)
        parts = [table, box_points(rng, moving_a(step)), box_points(rng, STATIC_B), tray]
        clouds.append(np.concatenate(parts))
        owners.append(np.repeat([0, 1, 2, 3], [N_TABLE, N_BOX, N_BOX, N_TRAY]))
    return np.asarray(clouds, np.float32), np.asarray(owners)


def write_store(path, n_episodes=2):
    clouds, owners = episode_steps()
    n = clouds.shape[1]
    writer = DatasetWriter(path, n, 10.0, WS_MIN, WS_MAX)
    colors = np.where(
        owners[..., None] == 1, [200, 30, 30], np.where(owners[..., None] == 2, [30, 30, 200], [120, 100, 80])
    )
    for e in range(n_episodes):
        writer.add_episode(
            {
                "point_cloud": clouds,
                "colors": colors.astype(np.uint8),
                "attention": np.zeros((N_STEPS, n), np.float32),
                "agent_pos": np.zeros((N_STEPS, 20)),
                "action": np.zeros((N_STEPS, 20)),
                "joint_pos": np.zeros((N_STEPS, 14)),
            },
            task="pack_battery",
            level="real",
            seed=e,
            instruction="",
            attended=[],
            success=True,
        )
    return clouds, owners


def test_tracked_instance_follows_the_moving_object():
    clouds, owners = episode_steps()
    members = label.track_instance(clouds, moving_a(0)[:2] + 0.01, TrackConfig())
    for step in range(N_STEPS):
        above_table = clouds[step][:, 2] > TrackConfig().table_z_m + TrackConfig().min_height_m
        truth = (owners[step] == 1) & above_table
        assert not np.any(members[step] & ~truth)  # nothing of the table or box B
        assert members[step][truth].mean() > 0.95  # DBSCAN may leave a stray point as noise


def test_attention_covers_the_attended_objects_with_a_margin_only():
    clouds, owners = episode_steps()
    lab = EpisodeLabel(0, "pack the red battery", [AttendedLabel("red battery", tuple(moving_a(0)[:2]))])
    attention = label.episode_attention(clouds, lab, TrackConfig())
    assert attention.dtype == np.float32
    assert set(np.unique(attention)) == {0.0, 1.0}
    assert attention[owners == 1].mean() > 0.98  # stray points of this sparse cloud may stay out
    assert np.all(attention[owners == 2] == 0)
    # Table points are attended only within the 16 mm margin of box A.
    for step in range(N_STEPS):
        table = owners[step] == 0
        box = clouds[step][owners[step] == 1]
        gap = np.min(np.linalg.norm(clouds[step][table][:, None] - box[None], axis=2), axis=1)
        assert np.all(gap[attention[step][table] == 1] <= 0.016)


def test_two_instances_in_attend_order():
    clouds, owners = episode_steps()
    lab = EpisodeLabel(
        0,
        "put it there",
        [AttendedLabel("a", tuple(moving_a(0)[:2])), AttendedLabel("b", tuple(STATIC_B[:2]))],
    )
    attention = label.episode_attention(clouds, lab, TrackConfig())
    assert attention[owners == 1].mean() > 0.98
    assert attention[owners == 2].mean() > 0.98


def test_region_of_a_larger_object():
    clouds, owners = episode_steps()
    slot = TRAY[:2] + np.array([0.06, 0.0])
    lab = EpisodeLabel(0, "pack it into the right slot", [AttendedLabel("slot", tuple(slot), radius_m=0.03)])
    members = label.instance_members(clouds, lab.attended[0], TrackConfig())
    for step in range(N_STEPS):
        near = np.linalg.norm(clouds[step][:, :2] - slot, axis=1) <= 0.03
        truth = (owners[step] == 3) & near & (clouds[step][:, 2] > 0.01)
        np.testing.assert_array_equal(members[step], truth)
    attention = label.episode_attention(clouds, lab, TrackConfig())
    far_side = (owners == 3) & (
        np.linalg.norm(clouds[..., :2] - (TRAY[:2] - np.array([0.08, 0.0])), axis=-1) < 0.02
    )
    assert attention[far_side].max() == 0  # the rest of the tray is not attended
    with pytest.raises(LabelError, match=r"no object point within 3\.0 cm"):
        label.region_instance(clouds, (0.3, -0.3), 0.03, TrackConfig(), "slot")


def test_attend_argument_forms():
    assert label.parse_attend("red battery@-0.15,0.05") == AttendedLabel("red battery", (-0.15, 0.05))
    assert label.parse_attend("slot 2@0.2,-0.1~0.03") == AttendedLabel("slot 2", (0.2, -0.1), 0.03)
    with pytest.raises(LabelError, match="radius must be > 0"):
        label.parse_attend("slot@0,0~-1")


def test_click_on_the_bare_table_is_refused():
    clouds, _ = episode_steps()
    with pytest.raises(LabelError, match=r"mug at \(0.300, -0.300\): no object within 3 cm"):
        label.track_instance(clouds, (0.3, -0.3), TrackConfig(), "mug")


def test_lost_instance_names_the_step():
    clouds, owners = episode_steps()
    clouds[5][owners[5] == 1] += [0.3, 0.0, 0.0]  # teleported: the track cannot follow
    with pytest.raises(LabelError, match="lost at step 5"):
        label.track_instance(clouds, moving_a(0)[:2], TrackConfig(), "battery")


def test_empty_instruction_or_no_click_is_refused():
    with pytest.raises(LabelError, match="instruction is empty"):
        EpisodeLabel(0, " ", [AttendedLabel("a", (0, 0))])
    with pytest.raises(LabelError, match="at least one attended instance"):
        EpisodeLabel(0, "pack it", [])


def test_cli_labels_an_episode_and_stores_labels_beside(tmp_path, capsys):
    store = tmp_path / "real.zarr"
    _, owners = write_store(store)
    x, y = moving_a(0)[:2]
    tx, ty = TRAY[:2]
    code = label.main(
        [
            str(store),
            "--episode",
            "1",
            "--instruction",
            "pack the red battery",
            "--attend",
            f"red battery@{x},{y}",
            f"slot@{tx},{ty}~0.03",
        ]
    )
    assert code == 0, capsys.readouterr().err
    loaded = load_store(store)
    rows = loaded.episode_slice(1)
    assert loaded.data["attention"][rows][owners == 1].mean() > 0.98
    assert loaded.data["attention"][rows][owners == 2].max() == 0
    assert np.all(loaded.data["attention"][loaded.episode_slice(0)] == 0)  # other episode untouched
    assert loaded.episodes[1]["instruction"] == "pack the red battery"
    assert loaded.episodes[1]["attended"] == ["red battery", "slot"]
    assert label.load_labels(store)[1].attended[1].radius_m == 0.03
    saved = json.loads((tmp_path / "real.labels.json").read_text())
    assert saved["episodes"]["1"]["attended"][0]["name"] == "red battery"
    assert saved["episodes"]["1"]["attended"][1]["radius_m"] == 0.03
    assert label.main([str(store), "--list"]) == 0
    listing = capsys.readouterr().out
    assert "episode 0: pack_battery, 12 steps, unlabelled" in listing
    assert "episode 1: pack_battery, 12 steps, labelled: 'pack the red battery'" in listing


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--episode", "7", "--instruction", "x", "--attend", "a@0,0"], "episode 7 does not exist"),
        (["--episode", "0", "--instruction", "x", "--attend", "a@zero"], "NAME@X,Y"),
        (["--episode", "0", "--instruction", "x", "--attend", "a@0.3,-0.3"], "no object within"),
    ],
)
def test_cli_bad_input(tmp_path, capsys, argv, message):
    store = tmp_path / "real.zarr"
    write_store(store, n_episodes=1)
    assert label.main([str(store), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "real.labels.json").exists()


def test_top_view_pixel_round_trip():
    view = TopView.over(WS_MIN, WS_MAX)
    assert (view.width, view.height) == (500, 400)
    u, v = view.world_to_pixel([[0.123, -0.211]])[0]
    x, y = view.pixel_to_world(u, v)
    assert abs(x - 0.123) <= 0.001
    assert abs(y + 0.211) <= 0.001


def test_reference_boxes_become_annotate_commands_that_parse():
    from codediffuser_perception.annotate import build_parser

    boxes = [
        label.ReferenceBox.from_corners("battery", "cam0", (50.4, 40), (20, 10.4)),
        label.ReferenceBox.from_corners("slot", "cam0", (1, 2), (3, 4)),
        label.ReferenceBox.from_corners("mug", "cam2", (5, 5), (9, 9)),
    ]
    assert boxes[0].box == (20, 10, 50, 40)
    lines = label.annotate_commands("data/real.observations/episode_0000.npz", boxes)
    assert len(lines) == 2  # one per view
    assert "--view cam0 --label battery=box:20,10,50,40 --label slot=box:1,2,3,4" in lines[0]
    for line in lines:
        words = line.split()
        assert words[:2] == ["codediffuser", "annotate"]
        build_parser().parse_args(words[2:])
    with pytest.raises(LabelError, match="category needs a name"):
        label.ReferenceBox("red battery", "cam0", (0, 0, 1, 1))


def test_web_page_click_and_save(tmp_path):
    from codediffuser.import_bag import observations_dir
    from codediffuser_perception.observation import save_views
    from codediffuser_perception.types import CameraView

    store = tmp_path / "real.zarr"
    _, owners = write_store(store, n_episodes=1)
    rgb = np.zeros((48, 64, 3), np.uint8)
    views = [
        CameraView(f"cam{i}", rgb, np.ones((48, 64), np.float32), np.eye(3), np.eye(4)) for i in range(2)
    ]
    observations_dir(store).mkdir()
    save_views(observations_dir(store) / "episode_0000.npz", views)
    server = make_server(store, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert "episode 0" in urllib.request.urlopen(base + "/").read().decode()
        page = urllib.request.urlopen(base + "/episode/0").read().decode()
        assert 'type="image"' in page
        png = urllib.request.urlopen(base + "/episode/0/top.png").read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        u, v = TopView.over(WS_MIN, WS_MAX).world_to_pixel([moving_a(0)[:2]])[0]

        def post(**form):
            data = urllib.parse.urlencode(form).encode()
            return urllib.request.urlopen(base + "/episode/0", data=data).read().decode()

        page = post(instruction="pack the red battery", name="red battery", **{"click.x": u, "click.y": v})
        assert "<li>red battery at" in page
        page = post(instruction="pack the red battery", **{"click.x": 5, "click.y": 5})  # the bare corner
        assert "error:" in page
        assert page.count("<li>") == 1
        su, sv = TopView.over(WS_MIN, WS_MAX).world_to_pixel([TRAY[:2]])[0]
        page = post(
            instruction="pack the red battery", name="slot", radius_m="0.03", **{"click.x": su, "click.y": sv}
        )
        assert "<li>slot at" in page
        assert "radius 0.03 m" in page
        page = post(instruction="pack the red battery", action="save")
        assert "saved: attention" in page
        assert urllib.request.urlopen(base + "/episode/0/view/cam1.png").read()[:4] == b"\x89PNG"
        post(ref_category="battery", **{"view_cam1.x": 30, "view_cam1.y": 8})
        page = post(ref_category="battery", **{"view_cam1.x": 10, "view_cam1.y": 20})
        assert "--view cam1 --label battery=box:10,8,30,20 --out references" in page
    finally:
        server.shutdown()
        server.server_close()
    loaded = load_store(store)
    assert loaded.data["attention"][owners == 1].mean() > 0.98
    assert loaded.episodes[0]["attended"] == ["red battery", "slot"]
