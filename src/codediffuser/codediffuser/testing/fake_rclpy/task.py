"""Fake `rclpy.task.Future`: the result of `Client.call_async` (and what `spin_until_future_complete` waits on)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Future:
    """A value that becomes available when the harness processes the matching work."""

    def __init__(self) -> None:
        self._done = False
        self._cancelled = False
        self._result: Any = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[[Future], None]] = []

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        if not self._done:
            self._cancelled = True
            self._complete()

    def result(self) -> Any:
        """The result, None while pending; re-raises the exception set by the server side."""
        if self._exception is not None:
            raise self._exception
        return self._result

    def exception(self) -> BaseException | None:
        return self._exception

    def set_result(self, result: Any) -> None:
        self._result = result
        self._complete()

    def set_exception(self, exception: BaseException) -> None:
        self._exception = exception
        self._complete()

    def add_done_callback(self, callback: Callable[[Future], None]) -> None:
        if self._done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def _complete(self) -> None:
        self._done = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)
