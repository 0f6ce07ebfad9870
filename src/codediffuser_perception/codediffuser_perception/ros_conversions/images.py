"""sensor_msgs/Image ↔ numpy and sensor_msgs/CameraInfo ↔ K.

Depth contract (DESIGN.md §3): metres as float32, 0 = invalid. Camera topics carry 16UC1 millimetres
(the RealSense convention); the feature cloud message carries 32FC1 metres. Reading honours `step`
(row padding) and `is_bigendian`; writing produces packed little-endian rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from codediffuser_perception.ros_conversions._base import (
    ConversionError,
    as_bytes,
    field,
    header,
    new_message,
    typed_array,
)

ENCODINGS: dict[str, tuple[type, int]] = {
    "rgb8": (np.uint8, 3),
    "bgr8": (np.uint8, 3),
    "rgba8": (np.uint8, 4),
    "bgra8": (np.uint8, 4),
    "mono8": (np.uint8, 1),
    "mono16": (np.uint16, 1),
    "16UC1": (np.uint16, 1),
    "32FC1": (np.float32, 1),
    "32SC1": (np.int32, 1),
}
"""Supported encodings: name → (pixel dtype, channels)."""


def image_to_numpy(msg: Any) -> np.ndarray:
    """Pixels as (H, W) or (H, W, C) in the encoding's dtype and channel order (native byte order)."""
    encoding = str(field(msg, "encoding"))
    if encoding not in ENCODINGS:
        raise ConversionError(f"Image.encoding {encoding!r} is not supported ({', '.join(ENCODINGS)})")
    dtype, channels = ENCODINGS[encoding]
    height, width, step = int(field(msg, "height")), int(field(msg, "width")), int(field(msg, "step"))
    row_bytes = width * channels * np.dtype(dtype).itemsize
    if step < row_bytes:
        raise ConversionError(
            f"Image.step {step} is smaller than width × pixel size = {row_bytes} ({encoding})"
        )
    data = as_bytes(field(msg, "data"), "Image.data")
    if data.size != step * height:
        raise ConversionError(f"Image.data has {data.size} bytes, expected step × height = {step * height}")
    rows = data.reshape(height, step)[:, :row_bytes]
    order = ">" if field(msg, "is_bigendian") else "<"
    pixels = np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(order)).astype(dtype)
    return pixels.reshape(height, width, channels) if channels > 1 else pixels.reshape(height, width)


def image_to_rgb(msg: Any) -> np.ndarray:
    """A colour image (rgb8, bgr8, rgba8, bgra8) → (H, W, 3) uint8 RGB."""
    encoding = str(field(msg, "encoding"))
    if encoding not in ("rgb8", "bgr8", "rgba8", "bgra8"):
        raise ConversionError(
            f"Image.encoding {encoding!r} is not a colour encoding (rgb8, bgr8, rgba8, bgra8)"
        )
    pixels = image_to_numpy(msg)[..., :3]
    return np.ascontiguousarray(pixels[..., ::-1] if encoding.startswith("bgr") else pixels)


def image_to_depth_m(msg: Any) -> np.ndarray:
    """A depth image → (H, W) float32 metres, 0 = invalid: 16UC1/mono16 in mm, or 32FC1 in m (NaN/inf/<0 → 0)."""
    encoding = str(field(msg, "encoding"))
    if encoding in ("16UC1", "mono16"):
        return image_to_numpy(msg).astype(np.float32) * np.float32(0.001)
    if encoding == "32FC1":
        depth = image_to_numpy(msg)
        return np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float32)
    raise ConversionError(f"Image.encoding {encoding!r} is not a depth encoding (16UC1 mm, 32FC1 m)")


def image_to_labels(msg: Any) -> np.ndarray:
    """A label image (32SC1, 16UC1 or mono8 object ids) → (H, W) int32."""
    encoding = str(field(msg, "encoding"))
    if encoding not in ("32SC1", "16UC1", "mono16", "mono8"):
        raise ConversionError(f"Image.encoding {encoding!r} is not a label encoding (32SC1, 16UC1, mono8)")
    return image_to_numpy(msg).astype(np.int32)


def numpy_to_image(pixels: np.ndarray, encoding: str, frame_id: str, stamp: Any, msg: Any = None) -> Any:
    """(H, W[, C]) array of the encoding's dtype → sensor_msgs/Image (packed little-endian rows)."""
    if encoding not in ENCODINGS:
        raise ConversionError(f"encoding {encoding!r} is not supported ({', '.join(ENCODINGS)})")
    dtype, channels = ENCODINGS[encoding]
    expected = (2,) if channels == 1 else (3,)
    if pixels.ndim not in expected or (channels > 1 and pixels.shape[2] != channels) or pixels.dtype != dtype:
        raise ConversionError(
            f"{encoding} needs an (H, W{'' if channels == 1 else f', {channels}'}) {np.dtype(dtype).name} array, "
            f"got {pixels.shape} {pixels.dtype}"
        )
    msg = msg if msg is not None else new_message("sensor_msgs.msg", "Image")
    header(stamp, frame_id, msg.header)
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding, msg.is_bigendian = encoding, 0
    msg.step = int(pixels.shape[1] * channels * np.dtype(dtype).itemsize)
    msg.data = typed_array(
        np.ascontiguousarray(pixels, dtype=np.dtype(dtype).newbyteorder("<")).view(np.uint8), "B"
    )
    return msg


def rgb_to_image(rgb: np.ndarray, frame_id: str, stamp: Any, msg: Any = None) -> Any:
    """(H, W, 3) uint8 RGB → rgb8 Image."""
    return numpy_to_image(rgb, "rgb8", frame_id, stamp, msg)


def depth_m_to_image(
    depth_m: np.ndarray, frame_id: str, stamp: Any, msg: Any = None, encoding: str = "16UC1"
) -> Any:
    """(H, W) metres (0/NaN = invalid) → 16UC1 millimetres (rounded, ≤ 65.535 m) or 32FC1 metres."""
    depth = np.where(np.isfinite(depth_m) & (depth_m > 0), depth_m, 0)
    if encoding == "16UC1":
        pixels = np.clip(np.round(depth * 1000.0), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    elif encoding == "32FC1":
        pixels = depth.astype(np.float32)
    else:
        raise ConversionError(f"depth encoding must be 16UC1 or 32FC1, got {encoding!r}")
    return numpy_to_image(pixels, encoding, frame_id, stamp, msg)


def labels_to_image(labels: np.ndarray, frame_id: str, stamp: Any, msg: Any = None) -> Any:
    """(H, W) integer object ids → 32SC1 Image."""
    return numpy_to_image(np.asarray(labels, dtype=np.int32), "32SC1", frame_id, stamp, msg)


def camera_info_to_K(msg: Any) -> np.ndarray:
    """sensor_msgs/CameraInfo → (3, 3) float32 pinhole intrinsics K (from the `k` field)."""
    k = np.asarray(field(msg, "k"), dtype=np.float64)
    if k.size != 9:
        raise ConversionError(f"CameraInfo.k must hold 9 values, got {k.size}")
    K = k.reshape(3, 3)
    if not (K[0, 0] > 0 and K[1, 1] > 0 and K[2, 2] == 1 and K[1, 0] == K[2, 0] == K[2, 1] == 0):
        raise ConversionError(
            f"CameraInfo.k is not a pinhole matrix (fx, fy > 0, last row 0 0 1): {k.tolist()}"
        )
    return K.astype(np.float32)


def K_to_camera_info(
    K: np.ndarray,
    width: int,
    height: int,
    frame_id: str,
    stamp: Any,
    msg: Any = None,
    distortion: np.ndarray | None = None,
    distortion_model: str = "plumb_bob",
) -> Any:
    """K (3, 3) + image size → sensor_msgs/CameraInfo (R = I, P = [K | 0], distortion zeros by default)."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ConversionError(f"K must be (3, 3), got {K.shape}")
    msg = msg if msg is not None else new_message("sensor_msgs.msg", "CameraInfo")
    header(stamp, frame_id, msg.header)
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = distortion_model
    msg.d = [float(v) for v in (np.zeros(5) if distortion is None else np.ravel(distortion))]
    msg.k = K.reshape(-1).copy()
    msg.r = np.eye(3).reshape(-1)
    msg.p = np.hstack([K, np.zeros((3, 1))]).reshape(-1)
    return msg
