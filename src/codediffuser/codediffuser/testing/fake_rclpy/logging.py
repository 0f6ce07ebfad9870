"""Fake `rclpy.logging`: loggers write `LogRecord`s into the active graph, where tests read them."""

from __future__ import annotations

import sys
from collections.abc import Callable

from codediffuser.testing.fake_rclpy.graph import LogRecord, current_graph


def _level(level: str) -> Callable[..., bool]:
    def log(
        self: RcutilsLogger,
        message: str,
        *,
        once: bool = False,
        skip_first: bool = False,
        throttle_duration_sec: float | None = None,
        **_: object,
    ) -> bool:
        return self._log(level, message, once, skip_first, throttle_duration_sec)

    log.__doc__ = f"Log `message` at {level} (returns whether it was logged)."
    return log


class RcutilsLogger:
    """A named logger with rclpy's methods, including `once`, `skip_first` and `throttle_duration_sec`.

    `once`, `skip_first` and throttling count per call site, as rclpy does; throttling uses the harness clock.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._sites: dict[tuple[str, int], dict[str, int | None]] = {}

    def get_child(self, name: str) -> RcutilsLogger:
        return RcutilsLogger(f"{self.name}.{name}" if self.name else name)

    def _log(self, level: str, message: str, once: bool, skip_first: bool, throttle_s: float | None) -> bool:
        graph = current_graph()
        frame = sys._getframe(2)
        state = self._sites.setdefault(
            (frame.f_code.co_filename, frame.f_lineno), {"calls": 0, "shown_ns": None}
        )
        state["calls"] = calls = int(state["calls"] or 0) + 1
        shown_ns = state["shown_ns"]
        if (once and calls > 1) or (skip_first and calls == 1):
            return False
        if throttle_s and shown_ns is not None and graph.now_ns - shown_ns < throttle_s * 1e9:
            return False
        state["shown_ns"] = graph.now_ns
        graph.logs.append(LogRecord(self.name, level, str(message), graph.now_ns))
        return True

    debug = _level("DEBUG")
    info = _level("INFO")
    warning = _level("WARN")
    warn = warning
    error = _level("ERROR")
    fatal = _level("FATAL")


def get_logger(name: str) -> RcutilsLogger:
    """A logger by name, as `rclpy.logging.get_logger`."""
    return RcutilsLogger(name)
