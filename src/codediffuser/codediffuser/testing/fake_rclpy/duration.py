"""Fake `rclpy.duration.Duration` (integer nanoseconds, like rclpy)."""

from __future__ import annotations

from typing import Any


class Duration:
    """A span of time."""

    def __init__(self, *, seconds: float = 0, nanoseconds: int = 0) -> None:
        self._nanoseconds = round(seconds * 1e9) + int(nanoseconds)

    @property
    def nanoseconds(self) -> int:
        return self._nanoseconds

    def to_msg(self) -> Any:
        from codediffuser.testing.messages import message_classes

        sec, nanosec = divmod(self._nanoseconds, 1_000_000_000)
        return message_classes()["builtin_interfaces/msg/Duration"](sec=sec, nanosec=nanosec)

    @classmethod
    def from_msg(cls, msg: Any) -> Duration:
        return cls(seconds=msg.sec, nanoseconds=msg.nanosec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other.nanoseconds == self._nanoseconds

    def __lt__(self, other: Duration) -> bool:
        return self._nanoseconds < other.nanoseconds

    def __le__(self, other: Duration) -> bool:
        return self._nanoseconds <= other.nanoseconds

    def __hash__(self) -> int:
        return hash(self._nanoseconds)

    def __repr__(self) -> str:
        return f"Duration(nanoseconds={self._nanoseconds})"
