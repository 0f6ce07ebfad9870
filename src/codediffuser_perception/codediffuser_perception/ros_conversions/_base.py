"""Shared pieces of the ROS message conversions: the error type, message creation, stamps, headers, joints.

Messages are duck-typed: readers only read attributes, so they accept real rclpy messages, the test
harness's classes and rosbags' dataclasses alike. Builders fill the `msg` they are given; without one they
create it from the ROS message module importable at call time (`importlib`, by name: the real
`sensor_msgs.msg` on a robot, the harness's stand-in in tests), so this package imports no ROS package.
"""

from __future__ import annotations

import array
import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from codediffuser_perception.types import PerceptionError


class ConversionError(PerceptionError):
    """A message cannot be converted: wrong encoding, size, step, missing field. Names the field."""


def new_message(module: str, name: str) -> Any:
    """A default-constructed `module.name` message (e.g. "sensor_msgs.msg", "Image")."""
    try:
        return getattr(importlib.import_module(module), name)()
    except (ImportError, AttributeError) as exc:
        raise ConversionError(
            f"cannot create a {module}.{name}: pass `msg=` or run inside ROS / codediffuser.testing.fake_ros()"
        ) from exc


def field(msg: Any, name: str) -> Any:
    """`msg.name`, or a ConversionError naming the missing field."""
    try:
        return getattr(msg, name)
    except AttributeError as exc:
        raise ConversionError(f"{type(msg).__name__} has no field '{name}'") from exc


def typed_array(values: np.ndarray, typecode: str) -> array.array:
    """The `array.array` rclpy stores (and accepts fast) for a numeric sequence field."""
    out = array.array(typecode)
    out.frombytes(np.ascontiguousarray(values, dtype=np.dtype(typecode).newbyteorder("=")).tobytes())
    return out


def as_bytes(data: Any, what: str) -> np.ndarray:
    """A uint8[] field (array.array, bytes, numpy, list) as a flat uint8 numpy view."""
    try:
        return (
            np.frombuffer(data, dtype=np.uint8) if not isinstance(data, list) else np.asarray(data, np.uint8)
        )
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"{what}: cannot read it as bytes ({type(data).__name__})") from exc


def stamp_to_seconds(stamp: Any) -> float:
    """builtin_interfaces/Time (sec, nanosec) → float seconds."""
    return float(field(stamp, "sec")) + float(field(stamp, "nanosec")) * 1e-9


def seconds_to_stamp(seconds: float, msg: Any = None) -> Any:
    """Float seconds (≥ 0) → builtin_interfaces/Time, nanoseconds rounded."""
    if not np.isfinite(seconds) or seconds < 0:
        raise ConversionError(f"stamp: seconds must be finite and ≥ 0, got {seconds}")
    msg = msg if msg is not None else new_message("builtin_interfaces.msg", "Time")
    sec, nanosec = divmod(round(seconds * 1e9), 1_000_000_000)
    msg.sec, msg.nanosec = int(sec), int(nanosec)
    return msg


def header(stamp: Any, frame_id: str, msg: Any = None) -> Any:
    """A std_msgs/Header; `stamp` is a builtin_interfaces/Time message or float seconds."""
    msg = msg if msg is not None else new_message("std_msgs.msg", "Header")
    if isinstance(stamp, int | float | np.floating | np.integer):
        seconds_to_stamp(float(stamp), msg.stamp)
    else:
        msg.stamp.sec, msg.stamp.nanosec = int(field(stamp, "sec")), int(field(stamp, "nanosec"))
    msg.frame_id = frame_id
    return msg


def joint_state_to_dict(msg: Any) -> dict[str, float]:
    """sensor_msgs/JointState → {joint name: position (rad or m)}."""
    names, positions = list(field(msg, "name")), list(field(msg, "position"))
    if len(names) != len(positions):
        raise ConversionError(f"JointState.position has {len(positions)} values for {len(names)} names")
    return {str(n): float(p) for n, p in zip(names, positions, strict=True)}


def dict_to_joint_state(positions: Mapping[str, float], stamp: Any, msg: Any = None) -> Any:
    """{joint name: position} → sensor_msgs/JointState (velocity and effort left empty)."""
    msg = msg if msg is not None else new_message("sensor_msgs.msg", "JointState")
    header(stamp, "", msg.header)
    msg.name = [str(n) for n in positions]
    msg.position = [float(p) for p in positions.values()]
    return msg
