"""Fake `rclpy.time.Time`: a point on the harness clock (integer nanoseconds)."""

from __future__ import annotations

from typing import Any

from codediffuser.testing.fake_rclpy.clock_type import ClockType
from codediffuser.testing.fake_rclpy.duration import Duration


class Time:
    """A time stamp; arithmetic with `Duration` as in rclpy."""

    def __init__(
        self, *, seconds: float = 0, nanoseconds: int = 0, clock_type: ClockType = ClockType.SYSTEM_TIME
    ) -> None:
        self._nanoseconds = round(seconds * 1e9) + int(nanoseconds)
        if self._nanoseconds < 0:
            raise ValueError("Time cannot be negative")
        self.clock_type = clock_type

    @property
    def nanoseconds(self) -> int:
        return self._nanoseconds

    def seconds_nanoseconds(self) -> tuple[int, int]:
        return divmod(self._nanoseconds, 1_000_000_000)

    def to_msg(self) -> Any:
        from codediffuser.testing.messages import message_classes

        sec, nanosec = self.seconds_nanoseconds()
        return message_classes()["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)

    @classmethod
    def from_msg(cls, msg: Any, clock_type: ClockType = ClockType.ROS_TIME) -> Time:
        return cls(seconds=msg.sec, nanoseconds=msg.nanosec, clock_type=clock_type)

    def __add__(self, other: Duration) -> Time:
        if not isinstance(other, Duration):
            return NotImplemented
        return Time(nanoseconds=self._nanoseconds + other.nanoseconds, clock_type=self.clock_type)

    __radd__ = __add__

    def __sub__(self, other: Time | Duration) -> Time | Duration:
        if isinstance(other, Time):
            return Duration(nanoseconds=self._nanoseconds - other.nanoseconds)
        if isinstance(other, Duration):
            return Time(nanoseconds=self._nanoseconds - other.nanoseconds, clock_type=self.clock_type)
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Time) and other.nanoseconds == self._nanoseconds

    def __lt__(self, other: Time) -> bool:
        return self._nanoseconds < other.nanoseconds

    def __le__(self, other: Time) -> bool:
        return self._nanoseconds <= other.nanoseconds

    def __hash__(self) -> int:
        return hash(self._nanoseconds)

    def __repr__(self) -> str:
        return f"Time(nanoseconds={self._nanoseconds}, clock_type={self.clock_type.name})"
