"""Fake `rclpy.clock_type.ClockType`."""

from __future__ import annotations

from enum import IntEnum


class ClockType(IntEnum):
    """Which clock a time stamp belongs to."""

    UNINITIALIZED = 0
    ROS_TIME = 1
    SYSTEM_TIME = 2
    STEADY_TIME = 3
