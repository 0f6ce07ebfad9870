"""Fake `rclpy.executors`: deterministic, single-threaded in fact, whatever the class name says.

`spin()` plays what a launch system does to a running node: it runs the node's callbacks for
`FakeRos.spin_duration_s` of simulated time, then shuts the context down and raises
`ExternalShutdownException`, so a node's `main()` returns through its normal shutdown path.
`spin_once(timeout_sec)` runs one pending callback; with none pending it jumps the clock to the next
timer (at most `timeout_sec` ahead) instead of sleeping.
"""

from __future__ import annotations

from typing import Any

from codediffuser.testing.fake_rclpy.graph import current_graph
from codediffuser.testing.fake_rclpy.task import Future


class ExternalShutdownException(Exception):  # noqa: N818 (rclpy's name)
    """The context was shut down from outside while spinning (e.g. by the launch system)."""


class Executor:
    """Runs the callbacks of the nodes added to it."""

    def __init__(self, *, context: Any = None) -> None:
        self._nodes: list[Any] = []

    def add_node(self, node: Any) -> bool:
        if node not in self._nodes:
            self._nodes.append(node)
        return True

    def remove_node(self, node: Any) -> None:
        if node in self._nodes:
            self._nodes.remove(node)

    def get_nodes(self) -> list[Any]:
        return list(self._nodes)

    def shutdown(self, timeout_sec: float | None = None) -> bool:
        self._nodes.clear()
        return True

    def wake(self) -> None:
        """Nothing sleeps in the harness."""

    def _check_context(self) -> None:
        if not current_graph().initialized:
            raise ExternalShutdownException("the context is shut down")

    def spin_once(self, timeout_sec: float | None = None) -> None:
        self._check_context()
        graph = current_graph()
        if graph.run_one(self._nodes):
            return
        due = graph.next_timer_ns(self._nodes)
        if due is not None and (timeout_sec is None or due <= graph.now_ns + timeout_sec * 1e9):
            graph.fire_next_timer(self._nodes)
            graph.run_one(self._nodes)
        elif timeout_sec is not None:
            graph.now_ns += round(timeout_sec * 1e9)

    def spin(self) -> None:
        self._check_context()
        graph = current_graph()
        graph.advance(graph.spin_duration_s, self._nodes)
        graph.initialized = False
        raise ExternalShutdownException("the harness ended the spin (FakeRos.spin_duration_s elapsed)")

    def spin_until_future_complete(self, future: Future, timeout_sec: float | None = None) -> None:
        """Run callbacks (and timers, up to `timeout_sec` ahead) until `future` is done or nothing is left."""
        self._check_context()
        graph = current_graph()
        deadline = None if timeout_sec is None else graph.now_ns + round(timeout_sec * 1e9)
        while not future.done():
            if graph.run_one(self._nodes):
                continue
            due = graph.next_timer_ns(self._nodes)
            if due is None or (deadline is not None and due > deadline):
                break
            graph.fire_next_timer(self._nodes)
        if not future.done() and deadline is not None:
            graph.now_ns = max(graph.now_ns, deadline)


class SingleThreadedExecutor(Executor):
    """Runs callbacks one at a time."""


class MultiThreadedExecutor(Executor):
    """Accepts `num_threads`; runs callbacks one at a time in FIFO order (deterministic tests)."""

    def __init__(self, num_threads: int | None = None, *, context: Any = None) -> None:
        super().__init__(context=context)
        self.num_threads = num_threads
