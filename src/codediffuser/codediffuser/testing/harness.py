"""`fake_ros()`: run node code written for real rclpy in-process, with no ROS installation.

Inside the context, `import rclpy`, `from sensor_msgs.msg import Image`, `from std_srvs.srv import Trigger`,
... resolve to the fakes (`codediffuser.testing.fake_rclpy`, classes generated from the typestore); on
exit `sys.modules` is restored. The fake modules are created once per process, so a node module imported
in one test keeps working in the next; each context gets a fresh graph (topics, clock, logs).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from codediffuser.testing import fake_rclpy
from codediffuser.testing.fake_rclpy.graph import Graph, LogRecord, pop_graph, push_graph
from codediffuser.testing.messages import message_modules


def rclpy_modules() -> dict[str, types.ModuleType]:
    """`rclpy` and its submodules (`rclpy.node`, `rclpy.qos`, ...) by their real names."""
    modules = {"rclpy": fake_rclpy}
    for name, value in vars(fake_rclpy).items():
        if isinstance(value, types.ModuleType) and value.__name__.startswith(fake_rclpy.__name__ + "."):
            modules[f"rclpy.{name}"] = value
    return modules


@contextmanager
def installed_modules(modules: dict[str, types.ModuleType]) -> Iterator[None]:
    """Put `modules` into `sys.modules` for the duration of the block, then restore what was there."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class FakeRos:
    """The test's handle on the fake graph: drive time and callbacks, inspect traffic and logs."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._probe: Any = None

    @property
    def now(self) -> float:
        """Harness time in seconds."""
        return self.graph.now_ns / 1e9

    @property
    def spin_duration_s(self) -> float:
        """Simulated time `rclpy.spin` runs before the harness shuts the context down (default 0)."""
        return self.graph.spin_duration_s

    @spin_duration_s.setter
    def spin_duration_s(self, seconds: float) -> None:
        self.graph.spin_duration_s = seconds

    def spin(self) -> int:
        """Run every pending callback (and what they trigger); returns how many ran."""
        return self.graph.drain()

    def advance(self, seconds: float) -> None:
        """Advance the clock, firing due timers in order and running all resulting callbacks."""
        self.graph.advance(seconds)

    def messages(self, topic: str) -> list[Any]:
        """Every message published on `topic` so far (CDR copies, oldest first)."""
        return list(self.graph.history.get(topic, []))

    def logs(self, level: str | None = None, logger: str | None = None) -> list[LogRecord]:
        """Logged records, optionally of one level ("INFO", "WARN", ...) and/or one logger (node name)."""
        return [
            r
            for r in self.graph.logs
            if (level is None or r.level == level) and (logger is None or r.logger == logger)
        ]

    def node(self, name: str) -> Any:
        """The live node called `name` (or with that fully qualified name)."""
        for node in self.graph.nodes:
            if name in (node.get_name(), node.get_fully_qualified_name()):
                return node
        raise KeyError(
            f"no node {name!r}; live nodes: {[n.get_fully_qualified_name() for n in self.graph.nodes]}"
        )

    def _probe_node(self) -> Any:
        if self._probe is None or self._probe.destroyed:
            self._probe = _ProbeNode("fake_ros_probe")
        return self._probe

    def publish(self, topic: str, msg: Any, qos: Any = 10) -> None:
        """Publish `msg` on `topic` from a probe node, then run the resulting callbacks."""
        probe = self._probe_node()
        publishers = [p for p in probe.publishers if p.topic_name == topic and p.msg_type is type(msg)]
        publisher = publishers[0] if publishers else probe.create_publisher(type(msg), topic, qos)
        publisher.publish(msg)
        self.spin()

    def call(self, service: str, request: Any) -> Any:
        """Call `service` from a probe node and return its response (runs the graph until it arrives)."""
        srv_type = self.graph.services[service].srv_type if service in self.graph.services else None
        if srv_type is None:
            raise KeyError(f"no service {service!r}; served: {sorted(self.graph.services)}")
        return self._probe_node().create_client(srv_type, service).call(request)


class _ProbeNode(fake_rclpy.node.Node):
    """The harness's own node for `FakeRos.publish` / `call`: works before `rclpy.init()`, never listed."""

    _harness_probe = True


@contextmanager
def fake_ros(
    *,
    parameters: dict[str, dict[str, Any]] | None = None,
    remappings: dict[str, str] | None = None,
    start_time_s: float = 1000.0,
) -> Iterator[FakeRos]:
    """Install the fake rclpy and interface modules and yield a `FakeRos` on a fresh graph.

    Args:
        parameters: overrides as a parameter YAML would give them, keyed by node name, full name or
            "/**": `{"fusion": {"voxel_size_m": 0.01}}` (a `ros__parameters` level is accepted too).
        remappings: resolved name -> new name, applied to every topic and service name.
        start_time_s: the harness clock's start (it moves only when the test advances it).
    """
    graph = Graph(start_time_s=start_time_s, parameters=parameters, remappings=remappings)
    with installed_modules({**rclpy_modules(), **message_modules()}):
        push_graph(graph)
        try:
            yield FakeRos(graph)
        finally:
            pop_graph(graph)
