"""`codediffuser calibrate --live`: calibration frames straight from the running cameras' topics.

The bag mode (`import_bag.load_calibration_frames`) and this one both return one `calibrate.CameraFrames`
per camera, so both go through the same `calibrate_rig` solve and refusal rules. A node subscribes to
`/cameras/<cam>/color/image_raw` and `/cameras/<cam>/color/camera_info` (the names the bag mode reads)
and keeps the first `n_frames` images per camera. The board is static while recording, so frames of
different cameras need no common timestamp; each camera only needs its own camera_info.

rclpy and sensor_msgs are imported inside the functions, when `--live` is used: this module is
imported by the ROS-free CLI, which must keep working (and failing clearly for `--live`) where no
ROS 2 environment is sourced. Like the `*node.py` modules it is ROS-edge code (`*_live.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from codediffuser.calibrate import CameraFrames
from codediffuser.calibration_config import CalibrationError
from codediffuser.import_bag import ImportBagError, _camera_info, camera_topic
from codediffuser_perception import ros_conversions as conv

NODE_NAME = "codediffuser_calibrate"
SPIN_STEP_S = 0.05
"""Longest wait of one executor step; the timeout is checked between steps."""


def _ros_modules() -> tuple[ModuleType, ModuleType]:
    """(`rclpy`, `sensor_msgs.msg`), or a CalibrationError telling how to calibrate without them."""
    try:
        import rclpy
        from sensor_msgs import msg as sensor_msgs
    except ImportError as error:
        raise CalibrationError(
            "--live needs a sourced ROS 2 environment (rclpy); record a bag instead: "
            "`ros2 bag record -o calib_bag /cameras/<cam>/color/image_raw /cameras/<cam>/color/camera_info` "
            f"for each camera, then `codediffuser calibrate --bag calib_bag` ({error})"
        ) from error
    return rclpy, sensor_msgs


class LiveFrameCollector:
    """Subscriptions on `node` that keep the first `n_frames` colour images and the camera_info per camera.

    Images are converted to (H, W, 3) uint8 RGB on arrival; a message that cannot be converted is kept
    as `error` (raised by `collect_live_frames`) rather than raised inside an executor callback.
    """

    def __init__(self, node: Any, msg_module: ModuleType, cameras: Sequence[str], n_frames: int) -> None:
        self.cameras = list(cameras)
        self.n_frames = n_frames
        self.images: dict[str, list[np.ndarray]] = {c: [] for c in self.cameras}
        self.infos: dict[str, Any] = {}
        self.error: str | None = None
        self.subscriptions = []
        for camera in self.cameras:
            self.subscriptions.append(
                node.create_subscription(
                    msg_module.Image, camera_topic(camera, "rgb"), self._image_callback(camera), 10
                )
            )
            self.subscriptions.append(
                node.create_subscription(
                    msg_module.CameraInfo, camera_topic(camera, "info"), self._info_callback(camera), 10
                )
            )

    def _image_callback(self, camera: str):
        def on_image(msg: Any) -> None:
            if len(self.images[camera]) >= self.n_frames:
                return
            try:
                self.images[camera].append(conv.image_to_rgb(msg))
            except conv.ConversionError as error:
                self.error = f"{camera_topic(camera, 'rgb')}: {error}"

        return on_image

    def _info_callback(self, camera: str):
        def on_info(msg: Any) -> None:
            self.infos.setdefault(camera, msg)

        return on_info

    @property
    def done(self) -> bool:
        """Every camera has its camera_info and `n_frames` images."""
        return all(len(self.images[c]) >= self.n_frames and c in self.infos for c in self.cameras)

    def missing(self) -> str:
        """What is still missing, per camera (for the timeout message)."""
        return "; ".join(
            f"{c}: {len(self.images[c])}/{self.n_frames} images"
            + ("" if c in self.infos else f", no {camera_topic(c, 'info')}")
            for c in self.cameras
            if not (len(self.images[c]) >= self.n_frames and c in self.infos)
        )

    def frames(self, source: str) -> dict[str, CameraFrames]:
        """The collected frames with each camera's intrinsics from its camera_info.

        Raises:
            CalibrationError: a camera_info with a distortion model OpenCV's pinhole functions misread,
                or a K that is not a pinhole matrix.
        """
        frames = {}
        for c in self.cameras:
            try:
                K, dist, width, height = _camera_info(self.infos[c])
            except (ImportBagError, conv.ConversionError) as error:
                raise CalibrationError(f"{camera_topic(c, 'info')}: {error}") from error
            frames[c] = CameraFrames(self.images[c], K, dist, width, height, source)
        return frames


def collect_live_frames(
    cameras: Sequence[str], n_frames: int, timeout_s: float, executor: Any = None
) -> dict[str, CameraFrames]:
    """`n_frames` colour frames + intrinsics per camera from the live topics, for `calibrate_rig`.

    Initialises rclpy if no context is up (and shuts it down again), spins a node until every camera
    delivered, and gives up after `timeout_s` of the node's clock.

    Args:
        cameras: camera names as in config/cameras.yaml (topics `/cameras/<name>/color/...`).
        n_frames: images kept per camera (>= 1).
        timeout_s: longest wait for all cameras, seconds (> 0).
        executor: executor to spin (default a new SingleThreadedExecutor); tests pass one that also
            runs their publishers.

    Raises:
        CalibrationError: no ROS 2 environment, bad arguments, an unreadable message, or the timeout
            passed (names each camera's missing images / camera_info).
    """
    if n_frames < 1:
        raise CalibrationError(f"--frames must be >= 1, got {n_frames}")
    if not timeout_s > 0:
        raise CalibrationError(f"--timeout-s must be > 0, got {timeout_s}")
    rclpy, msg_module = _ros_modules()
    own_context = not rclpy.ok()
    if own_context:
        rclpy.init()
    node = rclpy.create_node(NODE_NAME)
    if executor is None:
        from rclpy.executors import SingleThreadedExecutor

        executor = SingleThreadedExecutor()
    try:
        executor.add_node(node)
        collector = LiveFrameCollector(node, msg_module, cameras, n_frames)
        clock = node.get_clock()
        deadline_ns = clock.now().nanoseconds + round(timeout_s * 1e9)
        while not collector.done and collector.error is None:
            if clock.now().nanoseconds >= deadline_ns:
                raise CalibrationError(
                    f"no complete calibration frames after {timeout_s:g} s ({collector.missing()}); "
                    "are the cameras running (`ros2 topic hz /cameras/cam0/color/image_raw`)?"
                )
            executor.spin_once(timeout_sec=SPIN_STEP_S)
        if collector.error is not None:
            raise CalibrationError(collector.error)
        return collector.frames(f"live:{node.get_fully_qualified_name()}")
    finally:
        executor.remove_node(node)
        node.destroy_node()
        if own_context:
            rclpy.try_shutdown()
