"""codediffuser_msgs/Instance ↔ `Instance` (what `/instruct` returns and `InstanceArray` carries)."""

from __future__ import annotations

from typing import Any

import numpy as np

from codediffuser_perception.ros_conversions._base import ConversionError, field, new_message, typed_array
from codediffuser_perception.types import Instance

_POINTS = ("centroid", "bbox_min", "bbox_max")


def instance_to_msg(instance: Instance, msg: Any = None) -> Any:
    """`Instance` → codediffuser_msgs/Instance (`name` from `metadata["name"]`, else empty)."""
    msg = msg if msg is not None else new_message("codediffuser_msgs.msg", "Instance")
    msg.id, msg.category = int(instance.id), instance.category
    msg.name = str(instance.metadata.get("name", ""))
    msg.score = float(instance.score)
    for name in _POINTS:
        x, y, z = (float(v) for v in np.asarray(getattr(instance, name), dtype=np.float64).reshape(3))
        point = getattr(msg, name)
        point.x, point.y, point.z = x, y, z
    indices = np.asarray(instance.indices)
    if indices.size and (indices.min() < 0 or indices.max() >= 2**32):
        raise ConversionError(
            f"Instance.indices must fit uint32, got range [{indices.min()}, {indices.max()}]"
        )
    msg.indices = typed_array(indices.astype(np.uint32), "I")
    return msg


def msg_to_instance(msg: Any) -> Instance:
    """codediffuser_msgs/Instance → `Instance` (metadata {"name": ...} when the name is set)."""
    points = {}
    for name in _POINTS:
        p = field(msg, name)
        points[name] = np.array([p.x, p.y, p.z], dtype=np.float32)
    name = str(field(msg, "name"))
    return Instance(
        id=int(field(msg, "id")),
        category=str(field(msg, "category")),
        indices=np.asarray(field(msg, "indices"), dtype=np.int64),
        score=float(field(msg, "score")),
        metadata={"name": name} if name else {},
        **points,
    )
