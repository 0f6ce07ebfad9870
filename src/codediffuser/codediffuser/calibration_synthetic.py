"""Synthetic ChArUco views with known camera poses, and the nominal rig layout.

Used to test calibration against ground truth and to give `config/cameras.yaml` its nominal (pre-
calibration) poses. A board image from `CharucoBoard.generateImage` is mapped into a pinhole camera by
the plane-induced homography H = K [r1 r2 t] S (S: board pixels → metres), rendered at `supersample`×
resolution and area-averaged down, so edges are anti-aliased the way a real sensor integrates light.
"""

from __future__ import annotations

import cv2
import numpy as np

from codediffuser.calibration_board import make_board
from codediffuser.calibration_config import BoardConfig
from codediffuser_perception.geometry import invert_pose

NOMINAL_POSES_M = {
    "cam0": ((-0.38, -0.48, 0.45), (0.0, 0.02, 0.0)),
    "cam1": ((0.38, -0.48, 0.45), (0.0, 0.02, 0.0)),
    "cam2": ((0.0, -0.25, 0.75), (0.0, 0.05, 0.0)),
    "cam3": ((0.0, 0.50, 0.50), (0.0, 0.0, 0.0)),
}
"""Nominal (position, look-at point) per camera, world frame, metres: the simulator's rig
(config/cameras_sim.yaml) — three cameras on the operator's side, one behind the table — so that the
real clouds cover the objects as the simulated ones do and checkpoints transfer (docs/real_robot.md)."""


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """(4, 4) optical-frame pose (x right, y down, z forward) at `eye` looking at `target`, world z up."""
    eye = np.asarray(eye, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to `up`")
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    T[:3, 3] = eye
    return T


def board_lying_on_table(board_size_m: tuple[float, float], centre_m=(0.0, 0.0, 0.0)) -> np.ndarray:
    """T_world_board of a board lying face up, centred at `centre_m`, readable from −y.

    The print's top edge faces +y (away from the operator): board x = world x, board y = −world y,
    board z (into the board) = −world z.
    """
    width, height = board_size_m
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])
    T[:3, 3] = np.asarray(centre_m, dtype=np.float64) + np.array([-width / 2, height / 2, 0.0])
    return T


def render_board_view(
    board_config: BoardConfig,
    K: np.ndarray,
    T_world_cam: np.ndarray,
    size: tuple[int, int],
    *,
    background: int = 150,
    noise_std: float = 2.0,
    supersample: int = 4,
    pixels_per_m: float = 2000.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB image of the board seen by a pinhole camera without distortion.

    Args:
        board_config: the board and its pose in the world.
        K: (3, 3) intrinsics (pixel centres at integer coordinates, OpenCV's convention).
        T_world_cam: (4, 4) camera optical frame in the world.
        size: (width, height) in pixels.
        background: gray level around the board.
        noise_std: standard deviation of additive Gaussian sensor noise (gray levels).
        supersample: render at this factor and area-average down.
        pixels_per_m: resolution of the board texture.
        rng: noise generator (default: seeded 0).
    """
    board = make_board(board_config)
    width_m, height_m = board_config.size_m
    texture = board.generateImage(
        (round(width_m * pixels_per_m), round(height_m * pixels_per_m)), marginSize=0
    )
    T_cam_board = invert_pose(np.asarray(T_world_cam, dtype=np.float64)) @ board_config.T_world_board
    s = supersample
    K_big = np.asarray(K, dtype=np.float64).copy()
    K_big[:2] *= s
    K_big[:2, 2] += (s - 1) / 2.0  # pixel centres of the big image map onto the small one's
    texel = 1.0 / pixels_per_m
    S = np.array([[texel, 0.0, 0.5 * texel], [0.0, texel, 0.5 * texel], [0.0, 0.0, 1.0]])
    H = K_big @ T_cam_board[:3][:, [0, 1, 3]] @ S
    w, h = size
    big = cv2.warpPerspective(texture, H, (w * s, h * s), flags=cv2.INTER_LINEAR, borderValue=background)
    gray = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float64)
    rng = rng or np.random.default_rng(0)
    gray = np.clip(gray + rng.normal(0.0, noise_std, gray.shape), 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def nominal_intrinsics(width: int = 640, height: int = 480, fx: float = 615.0) -> np.ndarray:
    """(3, 3) K of a RealSense D435/D455 colour stream at 640×480 (about 69° horizontal field of view)."""
    return np.array([[fx, 0.0, (width - 1) / 2], [0.0, fx, (height - 1) / 2], [0.0, 0.0, 1.0]])
