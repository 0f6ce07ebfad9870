"""import-bag (and calibrate --bag) on small bags written here with rosbags and the project's typestore."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from codediffuser import calibrate, import_bag
from codediffuser.calibration_config import (
    CameraConfig,
    CamerasConfig,
    dump_cameras_config,
    load_cameras_config,
)
from codediffuser.calibration_synthetic import render_board_view
from codediffuser.import_bag import ImportBagError, ImportConfig, arm_topic, camera_topic
from codediffuser.interfaces import get_typestore
from codediffuser_perception.geometry import matrix_to_rot6d
from codediffuser_perception.observation import load_views
from codediffuser_perception.synthetic import four_view_rig, two_category_scene
from codediffuser_policy.dataset import load_store
from codediffuser_policy.kinematics import GRIPPER_MOTOR_CLOSED_RAD, GRIPPER_MOTOR_OPEN_RAD, load_arm_model

REPO = Path(__file__).resolve().parents[3]
STORE = get_typestore()
T = STORE.types
JOINTS = ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate", "gripper")
CAMERA_HZ, ARM_HZ, DURATION_S, T0 = 15.0, 50.0, 1.0, 100.0
IMPORT = ImportConfig(control_hz=10.0, n_points=256, voxel_size_m=0.01)


def header(t: float, frame: str):
    sec = int(np.floor(t))
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=round((t - sec) * 1e9)), frame_id=frame
    )


def image_msg(t, frame, array, encoding):
    array = np.ascontiguousarray(array)
    h, w = array.shape[:2]
    return T["sensor_msgs/msg/Image"](
        header=header(t, frame),
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=0,
        step=array.nbytes // h,
        data=np.frombuffer(array.tobytes(), np.uint8),
    )


def info_msg(t, frame, K, w, h, model="plumb_bob"):
    P = np.zeros((3, 4))
    P[:, :3] = K
    return T["sensor_msgs/msg/CameraInfo"](
        header=header(t, frame),
        height=h,
        width=w,
        distortion_model=model,
        d=np.zeros(5),
        k=np.asarray(K, float).reshape(-1),
        r=np.eye(3).reshape(-1),
        p=P.reshape(-1),
        binning_x=0,
        binning_y=0,
        roi=T["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        ),
    )


def arm_q(side: str, t: float) -> np.ndarray:
    """A smooth joint trajectory inside the limits; gripper motor angle from open to closed."""
    model = load_arm_model(side)
    mid = 0.5 * (model.lower + model.upper)
    q = mid + 0.3 * np.sin(2 * np.pi * 0.5 * t + np.arange(6))
    grip = GRIPPER_MOTOR_OPEN_RAD + (GRIPPER_MOTOR_CLOSED_RAD - GRIPPER_MOTOR_OPEN_RAD) * min(
        (t - T0) / DURATION_S, 1.0
    )
    return np.append(q, grip)


def joint_msg(t, side):
    names = [*JOINTS, "left_finger", "right_finger"]
    return T["sensor_msgs/msg/JointState"](
        header=header(t, ""),
        name=names,
        position=np.append(arm_q(side, t), [0.03, -0.03]),
        velocity=np.zeros(0),
        effort=np.zeros(0),
    )


def write_bag(
    path: Path,
    frames,
    *,
    t0=T0,
    skip=(),
    stamp_offset=None,
    drop=None,
    serials=None,
    distortion_model="plumb_bob",
):
    """A teleoperation bag: 4 cameras at 15 Hz (static scene `frames` or board images), arms at 50 Hz.

    skip: topics not recorded; stamp_offset: topic → seconds added to its header stamps (a foreign
    clock); drop: (topic, t_from, t_to) messages not recorded; serials: camera → serial recorded in the
    bag's custom_data; distortion_model: of every camera_info.
    """
    from rosbags.rosbag2 import Writer

    stamp_offset = stamp_offset or {}
    messages = []
    for name, (rgb, depth_m, K) in frames.items():
        h, w = rgb.shape[:2]
        frame = f"{name}_color_optical_frame"
        for t in t0 + np.arange(0, DURATION_S + 1e-9, 1 / CAMERA_HZ):
            depth_mm = np.round(depth_m * 1000).astype(np.uint16)
            messages.append((camera_topic(name, "rgb"), t, image_msg, (frame, rgb, "rgb8")))
            messages.append((camera_topic(name, "depth"), t, image_msg, (frame, depth_mm, "16UC1")))
            messages.append((camera_topic(name, "info"), t, info_msg, (frame, K, w, h, distortion_model)))
    for side in ("left", "right"):
        for t in t0 + np.arange(0, DURATION_S + 1e-9, 1 / ARM_HZ):
            messages.append((arm_topic(side), t, joint_msg, (side,)))
    messages.sort(key=lambda m: m[1])
    with Writer(path, version=9) as writer:
        for name, serial in (serials or {}).items():
            writer.set_custom_data(import_bag.SERIAL_KEY_PREFIX + name, serial)
        connections = {}
        for topic, t, make, args in messages:
            if topic in skip or (drop and topic == drop[0] and drop[1] <= t - t0 < drop[2]):
                continue
            msg = make(t + stamp_offset.get(topic, 0.0), *args)
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=STORE)
            receive_ns = round((t + 0.003) * 1e9)
            writer.write(connections[topic], receive_ns, STORE.serialize_cdr(msg, msg.__msgtype__))
    return path


@pytest.fixture(scope="module")
def scene_views():
    return four_view_rig(two_category_scene(), width=64, height=48)


@pytest.fixture(scope="module")
def rig_file(tmp_path_factory, scene_views):
    base = load_cameras_config(REPO / "config" / "cameras.yaml")
    report = {
        "source": "test",
        "date": "2026-01-01T00:00:00Z",
        "frames": 1,
        "corners": 35,
        "reprojection_error_px": 0.1,
    }
    cameras = {
        v.name: CameraConfig(
            v.name, f"00000000000{i}", v.width, v.height, v.K, np.zeros(5), v.T_world_cam, report
        )
        for i, v in enumerate(scene_views)
    }
    path = tmp_path_factory.mktemp("rig") / "cameras.yaml"
    dump_cameras_config(CamerasConfig(base.board, cameras), path)
    return path


@pytest.fixture(scope="module")
def frames(scene_views):
    return {v.name: (v.rgb, v.depth, v.K) for v in scene_views}


@pytest.fixture(scope="module")
def good_bag(tmp_path_factory, frames):
    return write_bag(
        tmp_path_factory.mktemp("bags") / "demo",
        frames,
        serials={"cam0": "000000000000", "cam1": "000000000001"},
    )


def test_bag_becomes_an_episode_with_fk_actions_and_fused_points(good_bag, rig_file, scene_views, tmp_path):
    out = tmp_path / "real.zarr"
    code = import_bag.main(
        [
            str(good_bag),
            "--output",
            str(out),
            "--task",
            "pack_battery",
            "--config",
            str(rig_file),
            "--n-points",
            "256",
            "--voxel-size-m",
            "0.01",
        ]
    )
    assert code == 0
    store = load_store(out)
    assert store.n_episodes == 1
    assert store.episodes[0]["task"] == "pack_battery"
    assert store.control_hz == 10.0
    steps = store.data["action"].shape[0]
    assert steps == 11  # 1.0 s at 10 Hz, both ends included
    grid = T0 + np.arange(steps) / 10.0
    for k, side in enumerate(("left", "right")):
        model = load_arm_model(side)
        for s in (0, 5, 10):
            q = arm_q(side, grid[s])
            pose = model.fk(q[:6])
            ee = store.data["agent_pos"][s, 10 * k : 10 * k + 10]
            np.testing.assert_allclose(ee[:3], pose[:3, 3], atol=1e-4)
            np.testing.assert_allclose(ee[3:9], matrix_to_rot6d(pose[:3, :3]), atol=1e-4)
            assert ee[9] == pytest.approx(
                1.0 - (grid[s] - T0) / DURATION_S, abs=1e-3
            )  # normalised: open → closed
            np.testing.assert_allclose(store.data["joint_pos"][s, 7 * k : 7 * k + 6], q[:6], atol=1e-5)
    views = load_views(out.with_name("real.observations") / "episode_0000.npz")
    assert [v.name for v in views] == ["cam0", "cam1", "cam2", "cam3"]
    np.testing.assert_array_equal(views[2].rgb, scene_views[2].rgb)
    np.testing.assert_allclose(views[2].depth, scene_views[2].depth, atol=0.0005)  # mm quantisation
    np.testing.assert_array_equal(store.data["action"][:-1], store.data["agent_pos"][1:])
    np.testing.assert_array_equal(store.data["action"][-1], store.data["agent_pos"][-1])
    # The fused points lie on the scene's surfaces (objects and table), inside the workspace.
    points = store.data["point_cloud"].reshape(-1, 3)
    assert two_category_scene().surface_distance(points).max() < 0.02
    assert np.all(store.data["attention"] == 0)


def test_missing_topics_are_named(frames, rig_file, tmp_path):
    bag = write_bag(tmp_path / "b", frames, skip={camera_topic("cam2", "depth"), arm_topic("right")})
    with pytest.raises(ImportBagError, match="missing topics") as error:
        import_bag.import_episode(bag, load_cameras_config(rig_file), IMPORT)
    assert camera_topic("cam2", "depth") in str(error.value)
    assert arm_topic("right") in str(error.value)


def test_unsynchronised_clock_is_refused(frames, rig_file, tmp_path):
    offset = {camera_topic("cam1", s): -3.0 for s in ("rgb", "depth")}
    bag = write_bag(tmp_path / "b", frames, stamp_offset=offset)
    with pytest.raises(ImportBagError, match="unsynchronised clocks") as error:
        import_bag.import_episode(bag, load_cameras_config(rig_file), IMPORT)
    assert "/cameras/cam1/color/image_raw" in str(error.value)
    assert "/cameras/cam0" not in str(error.value)


def test_dropped_frames_name_the_topic_and_time(frames, rig_file, tmp_path):
    bag = write_bag(tmp_path / "b", frames, drop=(camera_topic("cam3", "rgb"), 0.3, 0.6))
    with pytest.raises(
        ImportBagError, match=r"/cameras/cam3/color/image_raw: no message within 0.05 s of t = 0.4"
    ):
        import_bag.import_episode(bag, load_cameras_config(rig_file), IMPORT)


def test_unknown_serial_in_the_bag_is_refused(frames, rig_file, tmp_path):
    bag = write_bag(tmp_path / "b", frames, serials={"cam0": "000000000000", "cam2": "213622301234"})
    with pytest.raises(ImportBagError, match="bag camera cam2: unknown camera serial '213622301234'"):
        import_bag.import_episode(bag, load_cameras_config(rig_file), IMPORT)


def test_replugged_camera_is_refused_by_its_serial(frames, rig_file, tmp_path):
    bag = write_bag(tmp_path / "b", frames, serials={"cam0": "000000000001"})
    with pytest.raises(ImportBagError, match=r"which config/cameras\.yaml assigns to cam1"):
        import_bag.import_episode(bag, load_cameras_config(rig_file), IMPORT)


def test_swapped_camera_is_refused_by_its_intrinsics(good_bag, rig_file):
    rig = load_cameras_config(rig_file)
    cam = rig.camera("cam1")
    rig = rig.with_camera(replace(cam, K=cam.K * [[1.2], [1.2], [1]]))
    with pytest.raises(ImportBagError, match="cam1: the bag's camera"):
        import_bag.import_episode(good_bag, rig, IMPORT)


def test_uncalibrated_rig_is_refused(good_bag, rig_file):
    rig = load_cameras_config(rig_file)
    rig = rig.with_camera(replace(rig.camera("cam0"), calibration=None))
    with pytest.raises(ImportBagError, match="cam0 has only its nominal pose"):
        import_bag.import_episode(good_bag, rig, IMPORT)


def test_calibrate_from_a_bag(tmp_path, capsys):
    rig = load_cameras_config(REPO / "config" / "cameras.yaml")
    board_frames = {}
    for name, cam in rig.cameras.items():
        image = render_board_view(rig.board, cam.K, cam.T_world_cam, (cam.width, cam.height))
        board_frames[name] = (image, np.zeros((cam.height, cam.width)), cam.K)
    bag = write_bag(tmp_path / "calib", board_frames)
    out = tmp_path / "cameras.yaml"
    code = calibrate.main(
        [
            "--config",
            str(REPO / "config" / "cameras.yaml"),
            "--bag",
            str(bag),
            "--max-frames",
            "2",
            "--output",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    written = load_cameras_config(out)
    for name, cam in rig.cameras.items():
        got = written.camera(name)
        assert np.linalg.norm(got.T_world_cam[:3, 3] - cam.T_world_cam[:3, 3]) < 0.002
        assert got.calibration["source"] == "bag:calib"
        assert got.calibration["frames"] == 2


def test_documented_workflow_import_then_label_gives_training_windows(good_bag, rig_file, tmp_path, capsys):
    from codediffuser import label
    from codediffuser_policy.dataset import PolicyDataset

    out = tmp_path / "real.zarr"
    argv = [str(good_bag), "--output", str(out), "--task", "pack_battery", "--config", str(rig_file)]
    assert import_bag.main([*argv, "--voxel-size-m", "0.01"]) == 0
    battery = two_category_scene().boxes[0]
    x, y = battery.center[:2]
    assert (
        label.main(
            [str(out), "--episode", "0", "--instruction", "pack the battery", "--attend", f"battery@{x},{y}"]
        )
        == 0
    ), capsys.readouterr().err
    store = load_store(out)
    points, attention = store.data["point_cloud"], store.data["attention"]
    # the battery's own points: inside its box (5 mm fusion slack), above the table surface
    inside = battery.contains(points.reshape(-1, 3), margin_m=0.005).reshape(attention.shape)
    on_battery = inside & (points[..., 2] > 0.01)
    assert attention[on_battery].mean() > 0.95
    assert attention[~on_battery].mean() < 0.05
    window = PolicyDataset(store, horizon=4, n_obs_steps=2, n_action_steps=2)[0]
    assert window["attention"].shape == (2, 1024)
    assert window["action"].shape == (4, 20)


def test_unsupported_distortion_model_is_refused(frames, rig_file, tmp_path):
    bag = write_bag(tmp_path / "b", frames, distortion_model="equidistant")
    with pytest.raises(ImportBagError, match="distortion model 'equidistant' is not supported"):
        import_bag.import_episode(bag, load_cameras_config(rig_file), IMPORT)
