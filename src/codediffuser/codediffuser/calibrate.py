"""`codediffuser calibrate`: the four cameras' extrinsics in the robot world frame from a ChArUco board.

Lay the board at its configured pose (`board.T_world_board` in config/cameras.yaml), record a few
seconds of the colour streams (a ROS 2 bag, or one folder of images per camera), then run

    codediffuser calibrate --config config/cameras.yaml --bag calib_bag
    codediffuser calibrate --config config/cameras.yaml --images calib_images   # DIR/cam0/*.png, ...
    codediffuser calibrate --config config/cameras.yaml --live --frames 10      # running cameras (ROS 2)
    codediffuser calibrate --config config/cameras.yaml --board-image board.png  # the board to print

Per camera it pools the board corners of all frames into one PnP solve (`calibration_board`), prints
frames, corners, RMS reprojection error and the camera position, and writes `T_world_cam`, the
intrinsics (from camera_info for bags and `--live` topics, kept from the config for folders) and a
calibration report back into the rig file. If any camera is refused (too few corners, collinear corners, high error), nothing
is written and the exit status is 1, so a rig file never mixes old and new calibrations.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from codediffuser.calibration_board import (
    CalibrationThresholds,
    CameraPose,
    detect_corners,
    estimate_camera_pose,
    make_board,
)
from codediffuser.calibration_config import (
    BoardConfig,
    CalibrationError,
    CamerasConfig,
    calibration_report,
    dump_cameras_config,
    load_cameras_config,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass
class CameraFrames:
    """Calibration input of one camera.

    Attributes:
        images: (H, W, 3) RGB or (H, W) gray uint8 frames of the static board.
        K: (3, 3) intrinsics; distortion: plumb_bob coefficients.
        width, height: image size in pixels.
        source: where the frames came from (recorded in the calibration report).
    """

    images: list[np.ndarray]
    K: np.ndarray
    distortion: np.ndarray
    width: int
    height: int
    source: str


@dataclass
class RigCalibration:
    """Outcome of `calibrate_rig`: the accepted poses and, per refused camera, the reason."""

    poses: dict[str, CameraPose] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.refused


def calibrate_rig(
    config: CamerasConfig,
    frames: Mapping[str, CameraFrames],
    thresholds: CalibrationThresholds | None = None,
) -> RigCalibration:
    """Estimate every camera's pose; a camera that fails is listed in `refused` with the reason.

    Raises:
        CalibrationError: `frames` names a camera that config/cameras.yaml does not have.
    """
    board = make_board(config.board)
    result = RigCalibration()
    for name, cam in frames.items():
        config.camera(name)
        try:
            if not cam.images:
                raise CalibrationError(f"{name}: no frames")
            for image in cam.images:
                if image.shape[:2] != (cam.height, cam.width):
                    raise CalibrationError(
                        f"{name}: frame of {image.shape[1]}×{image.shape[0]} px, intrinsics are for "
                        f"{cam.width}×{cam.height}"
                    )
            detections = [detect_corners(image, board) for image in cam.images]
            result.poses[name] = estimate_camera_pose(
                name, detections, board, config.board, cam.K, cam.distortion, thresholds
            )
        except CalibrationError as error:
            result.refused[name] = str(error)
    return result


def apply_calibration(
    config: CamerasConfig, frames: Mapping[str, CameraFrames], result: RigCalibration
) -> CamerasConfig:
    """The rig file with each calibrated camera's intrinsics, `T_world_cam` and report replaced."""
    for name, pose in result.poses.items():
        cam = frames[name]
        config = config.with_camera(
            replace(
                config.camera(name),
                width=cam.width,
                height=cam.height,
                K=np.asarray(cam.K, dtype=np.float64),
                distortion=np.asarray(cam.distortion, dtype=np.float64),
                T_world_cam=pose.T_world_cam,
                calibration=calibration_report(
                    cam.source, pose.frames, pose.corners, pose.reprojection_error_px
                ),
            )
        )
    return config


def _subsample(items: list, max_frames: int) -> list:
    if len(items) <= max_frames:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, max_frames).round().astype(int)]


def load_image_folder(
    root: str | Path, config: CamerasConfig, cameras: Sequence[str], max_frames: int
) -> dict[str, CameraFrames]:
    """Frames from `root/<camera>/*.png|jpg` with the intrinsics already in the rig file.

    Raises:
        CalibrationError: a camera's folder is missing or holds no image.
    """
    root = Path(root)
    frames: dict[str, CameraFrames] = {}
    for name in cameras:
        cam = config.camera(name)
        folder = root / name
        paths = (
            sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if folder.is_dir()
            else []
        )
        if not paths:
            raise CalibrationError(f"{name}: no images in {folder} (expected {root}/<camera>/*.png)")
        images = []
        for path in _subsample(paths, max_frames):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise CalibrationError(f"{path}: not a readable image")
            images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        frames[name] = CameraFrames(images, cam.K, cam.distortion, cam.width, cam.height, f"images:{folder}")
    return frames


BOARD_PRINT_DPI = 254
"""10 pixels per millimetre in the printable board image."""
BOARD_MARGIN_M = 0.01
"""White border around the printed chessboard (the detector needs a quiet zone)."""


def write_board_image(board_config: BoardConfig, path: str | Path) -> None:
    """Write the board as a PNG whose DPI tag makes a 100 % print come out at the configured size."""
    from PIL import Image

    px_per_m = BOARD_PRINT_DPI / 0.0254
    width_m, height_m = board_config.size_m
    margin = round(BOARD_MARGIN_M * px_per_m)
    inner = (round(width_m * px_per_m), round(height_m * px_per_m))
    image = make_board(board_config).generateImage(inner, marginSize=0)
    image = cv2.copyMakeBorder(image, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)
    Image.fromarray(image).save(path, dpi=(BOARD_PRINT_DPI, BOARD_PRINT_DPI))


def _header_of(path: Path) -> str:
    """The leading comment block of an existing rig file (its schema notes), kept on rewrite."""
    if not path.is_file():
        return ""
    lines = []
    for line in path.read_text().splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Options of `codediffuser calibrate`."""
    parser = argparse.ArgumentParser(
        prog="codediffuser calibrate",
        description="Extrinsics of the rig's cameras in the world frame from a ChArUco board at a known pose.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--bag", type=Path, help="ROS 2 bag with /cameras/<cam>/color/{image_raw,camera_info}"
    )
    source.add_argument(
        "--live", action="store_true", help="read the running cameras' topics (needs a sourced ROS 2)"
    )
    source.add_argument("--images", type=Path, help="folder with one sub-folder of images per camera")
    source.add_argument(
        "--board-image", type=Path, help="write the configured board as a PNG to print at 100 %% and exit"
    )
    parser.add_argument("--config", type=Path, default=Path("config/cameras.yaml"), help="rig file to read")
    parser.add_argument("--output", type=Path, help="rig file to write (default: --config)")
    parser.add_argument("--cameras", nargs="+", help="cameras to calibrate (default: all in the rig file)")
    parser.add_argument("--max-frames", type=int, default=10, help="frames used per camera (evenly spaced)")
    parser.add_argument("--frames", type=int, default=10, help="with --live: frames collected per camera")
    parser.add_argument(
        "--timeout-s", type=float, default=10.0, help="with --live: longest wait for all cameras' frames"
    )
    parser.add_argument("--min-corners", type=int, default=CalibrationThresholds.min_corners)
    parser.add_argument(
        "--max-error-px", type=float, default=CalibrationThresholds.max_reprojection_px, help="RMS limit"
    )
    parser.add_argument("--dry-run", action="store_true", help="report only, write nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the calibration; 0 = written (or dry run passed), 1 = refused, 2 = bad input."""
    args = build_parser().parse_args(argv)
    try:
        if args.max_frames < 1:
            raise CalibrationError(f"--max-frames must be >= 1, got {args.max_frames}")
        thresholds = CalibrationThresholds(args.min_corners, args.max_error_px)
        config = load_cameras_config(args.config)
        if args.board_image is not None:
            write_board_image(config.board, args.board_image)
            width_mm, height_mm = (1000 * v for v in config.board.size_m)
            print(
                f"wrote {args.board_image}: {config.board.squares_x}×{config.board.squares_y} squares, "
                f"{width_mm:.0f}×{height_mm:.0f} mm at {BOARD_PRINT_DPI} dpi; print at 100 % and measure a "
                f"square (expect {config.board.square_length_m * 1000:.1f} mm)"
            )
            return 0
        cameras = args.cameras or list(config.cameras)
        for name in cameras:
            config.camera(name)
        if args.bag is not None:
            from codediffuser.import_bag import load_calibration_frames

            frames = load_calibration_frames(args.bag, cameras, args.max_frames)
        elif args.live:
            from codediffuser.calibration_live import collect_live_frames

            frames = collect_live_frames(cameras, args.frames, args.timeout_s)
        else:
            frames = load_image_folder(args.images, config, cameras, args.max_frames)
        result = calibrate_rig(config, frames, thresholds)
    except CalibrationError as error:
        print(f"codediffuser calibrate: {error}", file=sys.stderr)
        return 2
    print(f"{'camera':8} {'frames':>6} {'corners':>7} {'rms px':>7}  position in world (m)")
    for name in cameras:
        if name in result.poses:
            pose = result.poses[name]
            xyz = np.round(pose.T_world_cam[:3, 3], 3).tolist()
            print(f"{name:8} {pose.frames:>6} {pose.corners:>7} {pose.reprojection_error_px:>7.3f}  {xyz}")
        else:
            print(f"{name:8} REFUSED: {result.refused[name]}")
    if not result.ok:
        print(f"calibration refused for {sorted(result.refused)}; nothing written", file=sys.stderr)
        return 1
    if args.dry_run:
        return 0
    output = args.output or args.config
    dump_cameras_config(apply_calibration(config, frames, result), output, header=_header_of(args.config))
    print(f"wrote {output}")
    return 0
