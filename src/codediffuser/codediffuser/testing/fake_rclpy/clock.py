"""Fake `rclpy.clock`: every clock reads the harness clock, which only moves when a test advances it."""

from __future__ import annotations

from codediffuser.testing.fake_rclpy.clock_type import ClockType
from codediffuser.testing.fake_rclpy.graph import current_graph
from codediffuser.testing.fake_rclpy.time import Time

__all__ = ["Clock", "ClockType", "ROSClock"]


class Clock:
    """A clock reading the simulated time of the active harness."""

    def __init__(self, *, clock_type: ClockType = ClockType.SYSTEM_TIME) -> None:
        self.clock_type = clock_type

    def now(self) -> Time:
        return Time(nanoseconds=current_graph().now_ns, clock_type=self.clock_type)


class ROSClock(Clock):
    """The ROS clock (the node default)."""

    def __init__(self) -> None:
        super().__init__(clock_type=ClockType.ROS_TIME)
