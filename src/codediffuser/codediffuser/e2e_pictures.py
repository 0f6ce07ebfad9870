"""Pictures of an episode: the 3D attention (PNG) and the camera mosaic video (MP4).

matplotlib runs headless (Agg); the video is written with imageio's ffmpeg plugin (H.264 by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from codediffuser_perception.types import CameraView, FeatureCloud

ATTENTION_TINT = np.array([255, 0, 255], dtype=np.float32)
"""Colour blended over the attended objects' pixels in the video (magenta: no task object has it)."""
TINT_ALPHA = 0.55


def save_attention_png(
    path: Path, cloud: FeatureCloud, attention: np.ndarray, title: str, max_points: int = 6000
) -> Path:
    """Two 3D views of the fused cloud: its colours, and its attention (red = attended).

    Args:
        path: PNG file to write.
        cloud: the fused cloud (world frame).
        attention: (M,) values in [0, 1] aligned with `cloud.points`.
        title: figure title (e.g. the instruction).
        max_points: the cloud is subsampled to at most this many points (evenly, deterministic).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step = max(1, len(cloud) // max_points)
    pts = cloud.points[::step]
    att = np.asarray(attention)[::step]
    fig = plt.figure(figsize=(11, 5))
    panels = (("RGB point cloud", cloud.colors[::step] / 255.0), ("3D attention", None))
    for k, (name, colors) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        if colors is None:
            order = np.argsort(att)  # attended points drawn last, on top
            ax.scatter(
                *pts[order].T, c=att[order], cmap="coolwarm", vmin=0.0, vmax=1.0, s=2, depthshade=False
            )
        else:
            ax.scatter(*pts.T, c=colors, s=2, depthshade=False)
        ax.set_title(name)
        ax.view_init(elev=35, azim=-90)  # from the operator's side (−y), as docs/instructions.md
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.set_zlabel("z (m)")
        span = np.ptp(pts, axis=0).max() / 2
        centre = (pts.max(axis=0) + pts.min(axis=0)) / 2
        ax.set_xlim(centre[0] - span, centre[0] + span)
        ax.set_ylim(centre[1] - span, centre[1] + span)
        ax.set_zlim(0.0, 2 * span)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def mosaic_frame(
    views: Sequence[CameraView], attended_ids: Sequence[int], caption: str = "", scale: int = 2
) -> np.ndarray:
    """(H, W, 3) uint8: the views tiled two per row, attended objects tinted magenta, upscaled `scale`×.

    The tint reads the simulator segmentation, so it shows which objects the attention follows;
    `caption` is written in the top-left corner.
    """
    tiles = []
    for view in views:
        rgb = view.rgb.astype(np.float32)
        if view.segmentation is not None and len(attended_ids):
            mask = np.isin(view.segmentation, np.asarray(attended_ids))
            rgb[mask] = (1 - TINT_ALPHA) * rgb[mask] + TINT_ALPHA * ATTENTION_TINT
        tiles.append(rgb.astype(np.uint8))
    cols = min(2, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    h, w = tiles[0].shape[:2]
    canvas = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i, tile in enumerate(tiles):
        canvas[(i // cols) * h : (i // cols + 1) * h, (i % cols) * w : (i % cols + 1) * w] = tile
    frame = np.repeat(np.repeat(canvas, scale, axis=0), scale, axis=1)
    if caption:
        from PIL import Image, ImageDraw

        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)
        box = draw.textbbox((6, 6), caption)
        draw.rectangle((box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3), fill=(0, 0, 0))
        draw.text((6, 6), caption, fill=(255, 255, 255))
        frame = np.asarray(image)
    return frame


def save_video(path: Path, frames: Sequence[np.ndarray], fps: float) -> Path:
    """Write frames (same size, uint8 RGB) as an MP4."""
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=16, quality=7) as writer:
        for frame in frames:
            writer.append_data(frame)
    return path
