from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from codediffuser import calibrate
from codediffuser.calibration_board import CalibrationThresholds
from codediffuser.calibration_config import (
    CalibrationError,
    CamerasConfig,
    dump_cameras_config,
    load_cameras_config,
)
from codediffuser.calibration_synthetic import look_at, render_board_view

REPO = Path(__file__).resolve().parents[3]
RIG = REPO / "config" / "cameras.yaml"


def pose_error(T_est, T_true):
    """(position error in mm, rotation error in degrees)."""
    dR = T_est[:3, :3].T @ T_true[:3, :3]
    angle = np.degrees(np.linalg.norm(Rotation.from_matrix(dR).as_rotvec()))
    return 1000 * np.linalg.norm(T_est[:3, 3] - T_true[:3, 3]), angle


def perturbed_rig(config: CamerasConfig, seed: int) -> dict[str, np.ndarray]:
    """True poses a few cm / degrees away from the nominal ones, still looking at the board."""
    rng = np.random.default_rng(seed)
    truth = {}
    for name, cam in config.cameras.items():
        eye = cam.T_world_cam[:3, 3] + rng.uniform(-0.05, 0.05, 3)
        T = look_at(eye, rng.uniform(-0.03, 0.03, 3) * [1, 1, 0])
        roll = Rotation.from_rotvec([0, 0, rng.uniform(-0.1, 0.1)]).as_matrix()
        T[:3, :3] = T[:3, :3] @ roll
        truth[name] = T
    return truth


def render_rig(config, truth, n_frames=2, **kwargs):
    frames = {}
    for name, T in truth.items():
        cam = config.camera(name)
        images = [
            render_board_view(
                config.board, cam.K, T, (cam.width, cam.height), rng=np.random.default_rng(i), **kwargs
            )
            for i in range(n_frames)
        ]
        frames[name] = calibrate.CameraFrames(images, cam.K, cam.distortion, cam.width, cam.height, "test")
    return frames


@pytest.fixture(scope="module")
def rig():
    return load_cameras_config(RIG)


def test_shipped_rig_file_is_valid_and_complete(rig):
    assert sorted(rig.cameras) == ["cam0", "cam1", "cam2", "cam3"]
    assert rig.board.size_m == pytest.approx((0.36, 0.27))
    # Every nominal camera sees the whole board (so the shipped placement is calibratable as drawn).
    for cam in rig.cameras.values():
        corners = (
            rig.board.T_world_board
            @ np.array([[0, 0, 0, 1], [0.36, 0, 0, 1], [0, 0.27, 0, 1], [0.36, 0.27, 0, 1]]).T
        )
        in_cam = np.linalg.inv(cam.T_world_cam) @ corners
        uv = (cam.K @ in_cam[:3]) / in_cam[2]
        assert np.all(in_cam[2] > 0)
        assert np.all((uv[0] > 0) & (uv[0] < cam.width) & (uv[1] > 0) & (uv[1] < cam.height))


def test_recovers_known_poses_within_2mm_and_half_a_degree(rig):
    truth = perturbed_rig(rig, seed=1)
    frames = render_rig(rig, truth)
    result = calibrate.calibrate_rig(rig, frames)
    assert result.ok, result.refused
    for name, T in truth.items():
        pos_mm, rot_deg = pose_error(result.poses[name].T_world_cam, T)
        assert pos_mm < 2.0, (name, pos_mm)
        assert rot_deg < 0.5, (name, rot_deg)
        assert result.poses[name].reprojection_error_px < 0.5
        assert result.poses[name].corners >= 12


def write_images(root: Path, frames):
    for name, cam in frames.items():
        (root / name).mkdir(parents=True)
        for i, image in enumerate(cam.images):
            cv2.imwrite(str(root / name / f"{i:03d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def test_cli_on_image_folders_writes_the_rig_file(rig, tmp_path, capsys):
    truth = perturbed_rig(rig, seed=2)
    write_images(tmp_path / "images", render_rig(rig, truth, n_frames=1))
    out = tmp_path / "cameras.yaml"
    code = calibrate.main(["--config", str(RIG), "--images", str(tmp_path / "images"), "--output", str(out)])
    assert code == 0, capsys.readouterr()
    printed = capsys.readouterr().out
    assert "cam3" in printed
    assert "rms px" in printed
    written = load_cameras_config(out)
    for name, T in truth.items():
        pos_mm, rot_deg = pose_error(written.camera(name).T_world_cam, T)
        assert pos_mm < 2.0
        assert rot_deg < 0.5
        report = written.camera(name).calibration
        assert report["corners"] >= 12
        assert report["reprojection_error_px"] < 0.5
    # The schema notes at the top of the file survive a rewrite.
    assert out.read_text().startswith(RIG.read_text().split("\n", 1)[0])


def test_board_out_of_view_is_refused_and_nothing_is_written(rig, tmp_path, capsys):
    truth = perturbed_rig(rig, seed=3)
    truth["cam2"] = look_at([-0.5, 0.5, 0.6], [-1.5, 1.5, 0.6])  # looking away from the table
    write_images(tmp_path / "images", render_rig(rig, truth, n_frames=1))
    out = tmp_path / "cameras.yaml"
    code = calibrate.main(["--config", str(RIG), "--images", str(tmp_path / "images"), "--output", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert "REFUSED: cam2: saw 0 distinct ChArUco corners" in captured.out
    assert "nothing written" in captured.err
    assert not out.exists()


def test_wrong_intrinsics_are_refused_by_reprojection_error(rig):
    truth = perturbed_rig(rig, seed=4)
    frames = render_rig(rig, {"cam0": truth["cam0"]}, n_frames=1)
    frames["cam0"].K = frames["cam0"].K * [[1.3], [1.3], [1]]  # not the camera that took the images
    result = calibrate.calibrate_rig(rig, frames, CalibrationThresholds(max_reprojection_px=1.0))
    assert "cam0" in result.refused
    assert "RMS reprojection error" in result.refused["cam0"]


def test_partly_hidden_board_is_refused_by_corner_count(rig):
    truth = perturbed_rig(rig, seed=5)
    frames = render_rig(rig, {"cam1": truth["cam1"]}, n_frames=1)
    frames["cam1"].images[0][:, 200:] = 150  # most of the board covered
    result = calibrate.calibrate_rig(rig, frames, CalibrationThresholds(min_corners=12))
    assert "distinct ChArUco corners" in result.refused["cam1"]


def test_missing_camera_folder_names_the_camera(rig, tmp_path, capsys):
    (tmp_path / "images" / "cam0").mkdir(parents=True)
    code = calibrate.main(["--config", str(RIG), "--images", str(tmp_path / "images"), "--cameras", "cam0"])
    assert code == 2
    assert "cam0: no images" in capsys.readouterr().err


def test_unknown_camera_is_a_clear_error(rig, capsys):
    code = calibrate.main(["--config", str(RIG), "--images", "x", "--cameras", "cam7"])
    assert code == 2
    assert "unknown camera 'cam7'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("version"), "version must be 1"),
        (lambda d: d["cameras"]["cam0"].pop("K"), "cameras.cam0: missing ['K']"),
        (lambda d: d["cameras"]["cam1"]["T_world_cam"][0].__setitem__(0, 2.0), "not a proper rotation"),
        (lambda d: d["board"].__setitem__("marker_length_m", 0.05), "marker_length_m < square_length_m"),
        (
            lambda d: [d["cameras"][c].__setitem__("serial", "123") for c in ("cam0", "cam1")],
            "same serial",
        ),
    ],
)
def test_bad_rig_files_are_refused_with_the_reason(tmp_path, edit, message):
    data = yaml.safe_load(RIG.read_text())
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CalibrationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_cameras_config(path)


def test_rig_file_round_trip_and_serial_lookup(rig, tmp_path):
    from dataclasses import replace

    config = rig.with_camera(replace(rig.camera("cam2"), serial="213622301234"))
    dump_cameras_config(config, tmp_path / "rig.yaml")
    loaded = load_cameras_config(tmp_path / "rig.yaml")
    assert loaded.by_serial("213622301234").name == "cam2"
    np.testing.assert_allclose(loaded.camera("cam2").T_world_cam, rig.camera("cam2").T_world_cam, atol=1e-6)
    with pytest.raises(CalibrationError, match="unknown camera serial '999'"):
        loaded.by_serial("999")


def test_printable_board_image_has_the_configured_size_and_is_detectable(rig, tmp_path, capsys):
    from PIL import Image

    from codediffuser.calibration_board import detect_corners, make_board

    path = tmp_path / "board.png"
    assert calibrate.main(["--config", str(RIG), "--board-image", str(path)]) == 0
    assert "expect 45.0 mm" in capsys.readouterr().out
    image = Image.open(path)
    dpi = image.info["dpi"][0]
    width_mm = image.size[0] / dpi * 25.4
    assert width_mm == pytest.approx(360 + 2 * 10, abs=0.2)  # board + 10 mm white margins
    small = cv2.resize(np.asarray(image), None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    detection = detect_corners(small, make_board(rig.board))
    assert len(detection.ids) == (8 - 1) * (6 - 1)
