"""sensor_msgs/PointCloud2 ↔ structured numpy, and codediffuser_msgs/FeatureCloud ↔ `FeatureCloud`.

Layout written (as sensor_msgs_py.point_cloud2.create_cloud): float32 fields packed at offsets 0, 4, 8, …
(`count` 1), point_step = 4 × fields, row_step = point_step × width, height 1, little-endian. Colour is
the PCL convention: a float32 field `rgb` whose bits are the uint32 0x00RRGGBB. Extra per-point values
(`attention`) are further float32 fields. Reading accepts any layout with scalar fields of the eight
PointField datatypes, honouring offsets, padding, `row_step` and `is_bigendian`.
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
from codediffuser_perception.ros_conversions.images import (
    K_to_camera_info,
    camera_info_to_K,
    depth_m_to_image,
    image_to_depth_m,
    image_to_rgb,
    rgb_to_image,
)
from codediffuser_perception.ros_conversions.transforms import (
    matrix_to_transform_stamped,
    transform_to_matrix,
)
from codediffuser_perception.types import CameraView, FeatureCloud

DATATYPES = {
    1: np.int8,
    2: np.uint8,
    3: np.int16,
    4: np.uint16,
    5: np.int32,
    6: np.uint32,
    7: np.float32,
    8: np.float64,
}
"""PointField datatype constant → numpy dtype."""
FLOAT32 = 7
OPTICAL_SUFFIX = "_color_optical_frame"


def pack_rgb(colors: np.ndarray) -> np.ndarray:
    """(M, 3) uint8 → (M,) float32 whose bits are 0x00RRGGBB (the PCL/RViz `rgb` field)."""
    colors = np.asarray(colors, dtype=np.uint32)
    return ((colors[:, 0] << 16) | (colors[:, 1] << 8) | colors[:, 2]).astype(np.uint32).view(np.float32)


def unpack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(M,) float32 `rgb` field → (M, 3) uint8."""
    bits = np.ascontiguousarray(rgb, dtype=np.float32).view(np.uint32)
    return np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=1).astype(np.uint8)


def cloud_to_array(msg: Any) -> np.ndarray:
    """PointCloud2 → (height × width,) structured array, one native-order field per PointField."""
    fields = list(field(msg, "fields"))
    height, width = int(field(msg, "height")), int(field(msg, "width"))
    point_step, row_step = int(field(msg, "point_step")), int(field(msg, "row_step"))
    names, formats, offsets = [], [], []
    for i, f in enumerate(fields):
        if f.datatype not in DATATYPES or f.count != 1:
            raise ConversionError(
                f"PointCloud2.fields[{i}] ({f.name!r}): datatype {f.datatype}, count {f.count} unsupported"
            )
        dtype = np.dtype(DATATYPES[f.datatype])
        if f.offset + dtype.itemsize > point_step:
            raise ConversionError(f"PointCloud2.fields[{i}] ({f.name!r}) ends beyond point_step {point_step}")
        names.append(f.name)
        formats.append(dtype.newbyteorder(">" if field(msg, "is_bigendian") else "<"))
        offsets.append(f.offset)
    if len(set(names)) != len(names):
        raise ConversionError(f"PointCloud2.fields has duplicate names: {names}")
    if row_step < point_step * width:
        raise ConversionError(f"PointCloud2.row_step {row_step} < point_step × width = {point_step * width}")
    data = as_bytes(field(msg, "data"), "PointCloud2.data")
    if data.size != row_step * height:
        raise ConversionError(
            f"PointCloud2.data has {data.size} bytes, expected row_step × height = {row_step * height}"
        )
    rows = np.ascontiguousarray(data.reshape(height, row_step)[:, : point_step * width]).reshape(-1)
    raw = rows.view(
        np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})
    )
    out = np.empty(len(raw), dtype=[(n, f.newbyteorder("=")) for n, f in zip(names, formats, strict=True)])
    for name in names:
        out[name] = raw[name]
    return out


def array_to_cloud(points: np.ndarray, frame_id: str, stamp: Any, msg: Any = None) -> Any:
    """(M,) structured array of float32 fields → PointCloud2 in the sensor_msgs_py layout."""
    names = points.dtype.names
    if not names or any(points.dtype[n] != np.float32 for n in names):
        raise ConversionError(f"points must be a structured array of float32 fields, got {points.dtype}")
    msg = msg if msg is not None else new_message("sensor_msgs.msg", "PointCloud2")
    header(stamp, frame_id, msg.header)
    fields = []
    for i, name in enumerate(names):
        point_field = new_message("sensor_msgs.msg", "PointField")
        point_field.name, point_field.offset, point_field.datatype, point_field.count = (
            name,
            4 * i,
            FLOAT32,
            1,
        )
        fields.append(point_field)
    packed = np.empty((len(points), len(names)), dtype="<f4")
    for i, name in enumerate(names):
        packed[:, i] = points[name]
    msg.fields = fields
    msg.height, msg.width = 1, len(points)
    msg.point_step, msg.row_step = 4 * len(names), 4 * len(names) * len(points)
    msg.is_bigendian = False
    msg.is_dense = bool(np.isfinite(packed).all())
    msg.data = typed_array(packed.view(np.uint8), "B")
    return msg


def points_to_cloud(
    points: np.ndarray, colors: np.ndarray, frame_id: str, stamp: Any, msg: Any = None, **extra: np.ndarray
) -> Any:
    """(M, 3) xyz + (M, 3) uint8 colours (+ named (M,) float32 fields, e.g. attention) → PointCloud2."""
    m = len(points)
    if np.shape(points) != (m, 3) or np.shape(colors) != (m, 3):
        raise ConversionError(
            f"points and colors must be (M, 3), got {np.shape(points)} and {np.shape(colors)}"
        )
    dtype = [(n, np.float32) for n in ("x", "y", "z", "rgb", *extra)]
    structured = np.empty(m, dtype=dtype)
    for i, axis in enumerate("xyz"):
        structured[axis] = points[:, i]
    structured["rgb"] = pack_rgb(colors)
    for name, values in extra.items():
        if np.shape(values) != (m,):
            raise ConversionError(f"field {name!r} must be ({m},), got {np.shape(values)}")
        structured[name] = values
    return array_to_cloud(structured, frame_id, stamp, msg)


def cloud_to_points(msg: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """PointCloud2 with x, y, z, rgb → ((M, 3) float32 xyz, (M, 3) uint8 colours, {other field: (M,) values})."""
    array = cloud_to_array(msg)
    missing = [n for n in ("x", "y", "z", "rgb") if n not in array.dtype.names]
    if missing:
        raise ConversionError(f"PointCloud2.fields lacks {missing} (has {list(array.dtype.names)})")
    points = np.stack([array[a] for a in "xyz"], axis=1).astype(np.float32)
    extras = {n: array[n].copy() for n in array.dtype.names if n not in ("x", "y", "z", "rgb")}
    return points, unpack_rgb(array["rgb"].astype(np.float32)), extras


def feature_cloud_to_msg(cloud: FeatureCloud, msg: Any, frame_id: str, stamp: Any) -> Any:
    """Fill a codediffuser_msgs/FeatureCloud from a `FeatureCloud` in `frame_id` (the world frame).

    Writes the xyz+rgb cloud, the row-major (M, D) features and, per view, the rgb8 colour image, the
    32FC1 depth in metres, its CameraInfo and T_world_cam (child frame `<view name>_color_optical_frame`).
    `feature_backend` is left to the caller, who knows which extractor produced the features.
    """
    header(stamp, frame_id, msg.header)
    points_to_cloud(cloud.points, cloud.colors, frame_id, stamp, msg.cloud)
    features = np.zeros((len(cloud), 0), np.float32) if cloud.features is None else cloud.features
    msg.feature_dim = int(features.shape[1])
    msg.features = typed_array(features.reshape(-1), "f")
    msg.color_images = [rgb_to_image(v.rgb, v.name + OPTICAL_SUFFIX, v.stamp) for v in cloud.views]
    msg.depth_images = [
        depth_m_to_image(v.depth, v.name + OPTICAL_SUFFIX, v.stamp, encoding="32FC1") for v in cloud.views
    ]
    msg.camera_infos = [
        K_to_camera_info(v.K, v.width, v.height, v.name + OPTICAL_SUFFIX, v.stamp) for v in cloud.views
    ]
    msg.camera_poses = [
        matrix_to_transform_stamped(v.T_world_cam, frame_id, v.name + OPTICAL_SUFFIX, v.stamp)
        for v in cloud.views
    ]
    return msg


def msg_to_feature_cloud(msg: Any) -> FeatureCloud:
    """codediffuser_msgs/FeatureCloud → `FeatureCloud` (views named after their frames, suffix removed)."""
    points, colors, _ = cloud_to_points(field(msg, "cloud"))
    dim = int(field(msg, "feature_dim"))
    flat = np.asarray(field(msg, "features"), dtype=np.float32)
    if flat.size != dim * len(points):
        raise ConversionError(
            f"FeatureCloud.features has {flat.size} values, expected {len(points)} × feature_dim {dim}"
        )
    lists = [list(field(msg, n)) for n in ("color_images", "depth_images", "camera_infos", "camera_poses")]
    if len({len(entries) for entries in lists}) != 1:
        raise ConversionError(
            f"FeatureCloud views disagree: color/depth/info/pose counts {[len(e) for e in lists]}"
        )
    views = [
        CameraView(
            name=color.header.frame_id.removesuffix(OPTICAL_SUFFIX),
            rgb=image_to_rgb(color),
            depth=image_to_depth_m(depth),
            K=camera_info_to_K(info),
            T_world_cam=transform_to_matrix(pose),
            stamp=color.header.stamp.sec + color.header.stamp.nanosec * 1e-9,
        )
        for color, depth, info, pose in zip(*lists, strict=True)
    ]
    return FeatureCloud(points, colors, flat.reshape(len(points), dim) if dim else None, views)
