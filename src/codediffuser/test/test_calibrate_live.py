"""`codediffuser calibrate --live`: synthetic board views published on the camera topics (fake rclpy)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from codediffuser import calibrate, calibration_live
from codediffuser.calibration_config import CalibrationError, load_cameras_config
from codediffuser.calibration_synthetic import look_at, render_board_view
from codediffuser.testing import fake_ros
from codediffuser_perception import ros_conversions as conv

REPO = Path(__file__).resolve().parents[3]
RIG = REPO / "config" / "cameras.yaml"


@pytest.fixture(scope="module")
def rig():
    return load_cameras_config(RIG)


@pytest.fixture(scope="module")
def truth(rig):
    """True poses a few cm away from the nominal ones, looking at the board."""
    rng = np.random.default_rng(7)
    return {
        name: look_at(
            cam.T_world_cam[:3, 3] + rng.uniform(-0.05, 0.05, 3), rng.uniform(-0.03, 0.03, 3) * [1, 1, 0]
        )
        for name, cam in rig.cameras.items()
    }


@pytest.fixture(scope="module")
def views(rig, truth):
    """Two rendered board images per camera (RGB uint8)."""
    return {
        name: [
            render_board_view(
                rig.board,
                rig.camera(name).K,
                T,
                (rig.camera(name).width, rig.camera(name).height),
                rng=np.random.default_rng(i),
            )
            for i in range(2)
        ]
        for name, T in truth.items()
    }


def make_camera_driver(rig, views, cameras, rate_hz=10.0):
    """A node standing in for the four camera drivers: images + camera_info on a timer."""
    import rclpy
    from sensor_msgs.msg import CameraInfo, Image

    node = rclpy.create_node("fake_cameras")
    pubs = {
        c: (
            node.create_publisher(Image, f"/cameras/{c}/color/image_raw", 10),
            node.create_publisher(CameraInfo, f"/cameras/{c}/color/camera_info", 10),
        )
        for c in cameras
    }
    count = [0]

    def publish():
        stamp = conv.seconds_to_stamp(node.get_clock().now().nanoseconds / 1e9)
        for c, (image_pub, info_pub) in pubs.items():
            cam = rig.camera(c)
            frame_id = f"{c}_color_optical_frame"
            info_pub.publish(conv.K_to_camera_info(cam.K, cam.width, cam.height, frame_id, stamp))
            image_pub.publish(conv.rgb_to_image(views[c][count[0] % len(views[c])], frame_id, stamp))
        count[0] += 1

    node.create_timer(1.0 / rate_hz, publish)
    return node


def executor_with(node):
    """The fake SingleThreadedExecutor class, with the camera driver node added to every instance."""
    from rclpy.executors import SingleThreadedExecutor

    class WithDriver(SingleThreadedExecutor):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.add_node(node)

    return WithDriver


def pose_error(T_est, T_true):
    """(position error in mm, rotation error in degrees)."""
    angle = np.degrees(np.linalg.norm(Rotation.from_matrix(T_est[:3, :3].T @ T_true[:3, :3]).as_rotvec()))
    return 1000 * np.linalg.norm(T_est[:3, 3] - T_true[:3, 3]), angle


def test_live_cli_writes_the_rig_file_within_the_bag_accuracy(
    rig, truth, views, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "cameras.yaml"
    with fake_ros() as ros:
        import rclpy
        import rclpy.executors

        rclpy.init()
        driver = make_camera_driver(rig, views, list(rig.cameras))
        monkeypatch.setattr(rclpy.executors, "SingleThreadedExecutor", executor_with(driver))
        start = ros.now
        argv = ["--config", str(RIG), "--output", str(out), "--live", "--frames", "2", "--timeout-s", "5"]
        code = calibrate.main(argv)
        assert code == 0, capsys.readouterr()
        assert 0.1 <= ros.now - start < 1.0  # two 10 Hz frames, not the timeout
        assert [n.get_name() for n in ros.graph.nodes] == ["fake_cameras"]  # the calibration node is gone
    written = load_cameras_config(out)
    for name, T in truth.items():
        pos_mm, rot_deg = pose_error(written.camera(name).T_world_cam, T)
        assert pos_mm < 2.0, (name, pos_mm)
        assert rot_deg < 0.5, (name, rot_deg)
        report = written.camera(name).calibration
        assert report["frames"] == 2
        assert report["source"] == "live:/codediffuser_calibrate"
        assert report["corners"] >= 12
        assert report["reprojection_error_px"] < 0.5
        np.testing.assert_allclose(written.camera(name).K, rig.camera(name).K, rtol=1e-6)


def test_live_timeout_names_the_silent_camera(rig, views):
    with fake_ros() as ros:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        rclpy.init()
        executor = SingleThreadedExecutor()
        executor.add_node(make_camera_driver(rig, views, ["cam0", "cam1", "cam2"]))
        start = ros.now
        with pytest.raises(
            CalibrationError, match=r"after 2 s \(cam3: 0/3 images, no /cameras/cam3/color/camera_info\)"
        ):
            calibration_live.collect_live_frames(list(rig.cameras), 3, 2.0, executor=executor)
        assert 2.0 <= ros.now - start < 2.2


def test_live_without_ros_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "rclpy", None)  # import rclpy raises ImportError, as without ROS
    code = calibrate.main(["--config", str(RIG), "--live"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--live needs a sourced ROS 2 environment (rclpy); record a bag instead" in err
    assert "codediffuser calibrate --bag calib_bag" in err


def test_live_rejects_bad_frame_count():
    with pytest.raises(CalibrationError, match="--frames must be >= 1"):
        calibration_live.collect_live_frames(["cam0"], 0, 1.0)
