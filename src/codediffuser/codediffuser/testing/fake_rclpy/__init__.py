"""A fake `rclpy` for tests: installed as `rclpy` by `codediffuser.testing.fake_ros()`, never imported by nodes directly.

The module-level functions mirror rclpy's (`init`, `shutdown`, `try_shutdown`, `ok`, `spin`,
`spin_once`, `spin_until_future_complete`, `create_node`) and act on the active harness graph.
"""

from __future__ import annotations

from typing import Any

from codediffuser.testing.fake_rclpy import (
    callback_groups,
    clock,
    clock_type,
    duration,
    exceptions,
    executors,
    logging,
    node,
    parameter,
    qos,
    task,
    time,
)
from codediffuser.testing.fake_rclpy.graph import current_graph

__all__ = [
    "callback_groups",
    "clock",
    "clock_type",
    "create_node",
    "duration",
    "exceptions",
    "executors",
    "get_global_executor",
    "init",
    "logging",
    "node",
    "ok",
    "parameter",
    "qos",
    "shutdown",
    "spin",
    "spin_once",
    "spin_until_future_complete",
    "task",
    "time",
    "try_shutdown",
]


def init(
    *, args: list[str] | None = None, context: Any = None, domain_id: int | None = None, **_: Any
) -> None:
    """Start the fake context; like rclpy, a second init without shutdown is an error."""
    graph = current_graph()
    if graph.initialized:
        raise RuntimeError("rclpy.init() called twice without rclpy.shutdown()")
    graph.initialized = True


def ok(*, context: Any = None) -> bool:
    """Whether the context is initialized and not shut down."""
    return current_graph().initialized


def shutdown(*, context: Any = None, uninstall_handlers: bool | None = None) -> None:
    """Shut the context down; like rclpy, shutting down twice is an error (use try_shutdown)."""
    graph = current_graph()
    if not graph.initialized:
        raise RuntimeError("rclpy.shutdown() called on a context that is not initialized (use try_shutdown)")
    graph.initialized = False


def try_shutdown(*, context: Any = None, uninstall_handlers: bool | None = None) -> None:
    """Shut the context down if it is up."""
    current_graph().initialized = False


def create_node(node_name: str, **kwargs: Any) -> node.Node:
    """Create a `Node` (as `rclpy.create_node`)."""
    return node.Node(node_name, **kwargs)


def get_global_executor() -> executors.Executor:
    """A fresh single-threaded executor (the harness keeps no global one)."""
    return executors.SingleThreadedExecutor()


def _executor_for(target: Any, executor: executors.Executor | None) -> executors.Executor:
    executor = executor or executors.SingleThreadedExecutor()
    executor.add_node(target)
    return executor


def spin(node: Any, executor: executors.Executor | None = None) -> None:
    """Spin `node` (see `executors.Executor.spin`: ends with ExternalShutdownException)."""
    _executor_for(node, executor).spin()


def spin_once(
    node: Any, *, executor: executors.Executor | None = None, timeout_sec: float | None = None
) -> None:
    """Run one callback of `node`, or move the clock to its next timer."""
    _executor_for(node, executor).spin_once(timeout_sec=timeout_sec)


def spin_until_future_complete(
    node: Any,
    future: task.Future,
    executor: executors.Executor | None = None,
    timeout_sec: float | None = None,
) -> None:
    """Run `node`'s callbacks until `future` is done."""
    _executor_for(node, executor).spin_until_future_complete(future, timeout_sec=timeout_sec)
