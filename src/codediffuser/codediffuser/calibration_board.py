"""ChArUco detection and camera pose estimation: the maths of `codediffuser calibrate`.

A static camera looks at a static board whose pose in the world is known (`BoardConfig.T_world_board`).
Every frame's ChArUco corners (OpenCV's `CharucoDetector`, refined with `cornerSubPix`) are pooled into
one PnP problem (IPPE for the planar start, Levenberg–Marquardt refinement over all frames), which gives
T_cam_board and therefore T_world_cam = T_world_board · T_cam_board⁻¹. The intrinsics are the camera's
own (RealSense factory calibration via camera_info): only the extrinsics are estimated.

A calibration is refused (`CalibrationError` with the reason) when too few distinct corners were seen,
when they are collinear (the pose is then not determined), or when the RMS reprojection error is high.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from codediffuser.calibration_config import BoardConfig, CalibrationError
from codediffuser_perception.geometry import invert_pose


@dataclass(frozen=True)
class CalibrationThresholds:
    """When a calibration is refused.

    Attributes:
        min_corners: distinct ChArUco corner ids that must be seen (over all frames); the 7×5 board has 24.
        max_reprojection_px: largest accepted RMS reprojection error in pixels.
    """

    min_corners: int = 12
    max_reprojection_px: float = 1.0

    def __post_init__(self) -> None:
        if self.min_corners < 6:
            raise CalibrationError(f"min_corners must be >= 6 (PnP needs them), got {self.min_corners}")
        if not self.max_reprojection_px > 0:
            raise CalibrationError(f"max_reprojection_px must be > 0, got {self.max_reprojection_px}")


@dataclass(frozen=True)
class CornerDetection:
    """ChArUco corners of one frame.

    Attributes:
        ids: (N,) int32 corner ids of the board.
        image_points: (N, 2) float64 sub-pixel positions (u, v).
    """

    ids: np.ndarray
    image_points: np.ndarray


@dataclass(frozen=True)
class CameraPose:
    """The estimated extrinsics of one camera.

    Attributes:
        T_world_cam: (4, 4) optical frame in the world.
        T_cam_board: (4, 4) board frame in the optical frame.
        reprojection_error_px: RMS over all pooled corners.
        frames: frames with a usable detection.
        corners: distinct corner ids seen.
        observations: pooled corner observations (≥ `corners`).
    """

    T_world_cam: np.ndarray
    T_cam_board: np.ndarray
    reprojection_error_px: float
    frames: int
    corners: int
    observations: int


def make_board(config: BoardConfig) -> cv2.aruco.CharucoBoard:
    """The OpenCV board object described by `config`.

    Raises:
        CalibrationError: unknown dictionary name, or a dictionary too small for the board.
    """
    if not config.dictionary.startswith("DICT_") or not hasattr(cv2.aruco, config.dictionary):
        raise CalibrationError(f"unknown ArUco dictionary {config.dictionary!r} (e.g. DICT_5X5_100)")
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, config.dictionary))
    needed = (config.squares_x * config.squares_y) // 2
    if dictionary.bytesList.shape[0] < needed:
        raise CalibrationError(
            f"{config.dictionary} has {dictionary.bytesList.shape[0]} markers, the board needs {needed}"
        )
    board = cv2.aruco.CharucoBoard(
        (config.squares_x, config.squares_y), config.square_length_m, config.marker_length_m, dictionary
    )
    board.setLegacyPattern(config.legacy_pattern)
    return board


def _gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise CalibrationError(f"calibration images must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    raise CalibrationError(f"calibration images must be (H, W) or (H, W, 3), got {image.shape}")


def detect_corners(image: np.ndarray, board: cv2.aruco.CharucoBoard) -> CornerDetection | None:
    """ChArUco corners in one (H, W) gray or (H, W, 3) RGB uint8 image; None when none is found."""
    gray = _gray(image)
    corners, ids, _, _ = cv2.aruco.CharucoDetector(board).detectBoard(gray)
    if ids is None or len(ids) == 0:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-4)
    corners = cv2.cornerSubPix(gray, corners.astype(np.float32), (5, 5), (-1, -1), criteria)
    return CornerDetection(
        ids=ids.reshape(-1).astype(np.int32), image_points=corners.reshape(-1, 2).astype(np.float64)
    )


def _pose_matrix(rvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(rvec)[0]
    T[:3, 3] = np.asarray(tvec).reshape(3)
    return T


def estimate_camera_pose(
    name: str,
    detections: Sequence[CornerDetection | None],
    board: cv2.aruco.CharucoBoard,
    board_config: BoardConfig,
    K: np.ndarray,
    distortion: np.ndarray,
    thresholds: CalibrationThresholds | None = None,
) -> CameraPose:
    """Pose of a static camera from its frames' detections of the static board.

    Args:
        name: the camera's name, used in error messages.
        detections: one entry per frame (None = board not found in that frame).
        board: the OpenCV board (`make_board(board_config)`).
        board_config: gives `T_world_board`.
        K: (3, 3) intrinsics; distortion: plumb_bob coefficients.
        thresholds: when to refuse; defaults to `CalibrationThresholds()`.

    Raises:
        CalibrationError: too few distinct corners, collinear corners, or RMS reprojection error above
            the threshold — the message names the camera, the figure and what to change.
    """
    thresholds = thresholds or CalibrationThresholds()
    usable = [d for d in detections if d is not None and len(d.ids) >= 4]
    ids = np.concatenate([d.ids for d in usable]) if usable else np.zeros(0, np.int32)
    distinct = np.unique(ids)
    if len(distinct) < thresholds.min_corners:
        raise CalibrationError(
            f"{name}: saw {len(distinct)} distinct ChArUco corners in {len(detections)} frames, need "
            f"{thresholds.min_corners}: make the whole board visible, closer and well lit"
        )
    if board.checkCharucoCornersCollinear(distinct.reshape(-1, 1)):
        raise CalibrationError(f"{name}: the detected corners are collinear, the pose is undetermined")
    chessboard = np.asarray(board.getChessboardCorners(), dtype=np.float64)  # (n_corners, 3)
    object_points = chessboard[ids]
    image_points = np.concatenate([d.image_points for d in usable])
    K = np.asarray(K, dtype=np.float64)
    distortion = np.asarray(distortion, dtype=np.float64)
    # The planar start uses the most complete single frame; LM then refines over every observation.
    best = max(usable, key=lambda d: len(d.ids))
    ok, rvec, tvec = cv2.solvePnP(
        chessboard[best.ids], best.image_points, K, distortion, flags=cv2.SOLVEPNP_IPPE
    )
    if not ok:
        raise CalibrationError(f"{name}: PnP failed on {len(best.ids)} corners")
    rvec, tvec = cv2.solvePnPRefineLM(object_points, image_points, K, distortion, rvec, tvec)
    projected, _ = cv2.projectPoints(object_points, rvec, tvec, K, distortion)
    residuals = projected.reshape(-1, 2) - image_points
    rms = float(np.sqrt(np.mean(np.sum(residuals**2, axis=1))))
    if rms > thresholds.max_reprojection_px:
        raise CalibrationError(
            f"{name}: RMS reprojection error {rms:.2f} px > {thresholds.max_reprojection_px} px: check the "
            "intrinsics (camera_info), the board dimensions in config/cameras.yaml, and that camera and "
            "board did not move during the recording"
        )
    T_cam_board = _pose_matrix(rvec, tvec)
    if T_cam_board[2, 3] <= 0:
        raise CalibrationError(f"{name}: the board pose is behind the camera; the detection is spurious")
    T_world_cam = board_config.T_world_board @ invert_pose(T_cam_board)
    return CameraPose(
        T_world_cam=T_world_cam,
        T_cam_board=T_cam_board,
        reprojection_error_px=rms,
        frames=len(usable),
        corners=len(distinct),
        observations=len(ids),
    )
