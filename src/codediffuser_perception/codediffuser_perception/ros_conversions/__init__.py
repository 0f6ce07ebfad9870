"""ROS message ↔ core type conversions used by every node (and the bag tools), without importing ROS.

Readers are duck-typed (real rclpy messages, `codediffuser.testing` fakes, rosbags dataclasses);
builders fill the `msg` given, else create one from the ROS message module importable at call time.
Bad input raises `ConversionError` (a `PerceptionError`, hence a ValueError) naming the field.

- images: `image_to_numpy`, `image_to_rgb`, `image_to_depth_m` (16UC1 mm / 32FC1 m → m, 0 invalid),
  `image_to_labels`, `numpy_to_image`, `rgb_to_image`, `depth_m_to_image`, `labels_to_image`,
  `camera_info_to_K`, `K_to_camera_info`
- clouds: `cloud_to_array`, `array_to_cloud` (sensor_msgs_py layout), `points_to_cloud`,
  `cloud_to_points`, `pack_rgb`, `unpack_rgb`, `feature_cloud_to_msg`, `msg_to_feature_cloud`
- transforms: `transform_to_matrix`, `matrix_to_transform_stamped`, `lookup_transform`
- instances: `instance_to_msg`, `msg_to_instance`
- misc: `stamp_to_seconds`, `seconds_to_stamp`, `header`, `joint_state_to_dict`, `dict_to_joint_state`
"""

from codediffuser_perception.ros_conversions._base import (
    ConversionError,
    dict_to_joint_state,
    header,
    joint_state_to_dict,
    seconds_to_stamp,
    stamp_to_seconds,
)
from codediffuser_perception.ros_conversions.clouds import (
    array_to_cloud,
    cloud_to_array,
    cloud_to_points,
    feature_cloud_to_msg,
    msg_to_feature_cloud,
    pack_rgb,
    points_to_cloud,
    unpack_rgb,
)
from codediffuser_perception.ros_conversions.images import (
    K_to_camera_info,
    camera_info_to_K,
    depth_m_to_image,
    image_to_depth_m,
    image_to_labels,
    image_to_numpy,
    image_to_rgb,
    labels_to_image,
    numpy_to_image,
    rgb_to_image,
)
from codediffuser_perception.ros_conversions.instances import instance_to_msg, msg_to_instance
from codediffuser_perception.ros_conversions.transforms import (
    lookup_transform,
    matrix_to_transform_stamped,
    transform_to_matrix,
)

__all__ = [
    "ConversionError",
    "K_to_camera_info",
    "array_to_cloud",
    "camera_info_to_K",
    "cloud_to_array",
    "cloud_to_points",
    "depth_m_to_image",
    "dict_to_joint_state",
    "feature_cloud_to_msg",
    "header",
    "image_to_depth_m",
    "image_to_labels",
    "image_to_numpy",
    "image_to_rgb",
    "instance_to_msg",
    "joint_state_to_dict",
    "labels_to_image",
    "lookup_transform",
    "matrix_to_transform_stamped",
    "msg_to_feature_cloud",
    "msg_to_instance",
    "numpy_to_image",
    "pack_rgb",
    "points_to_cloud",
    "rgb_to_image",
    "seconds_to_stamp",
    "stamp_to_seconds",
    "transform_to_matrix",
    "unpack_rgb",
]
