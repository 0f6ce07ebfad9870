"""The in-process ROS graph behind the fake rclpy: topics, services, the work queue, timers, clock, logs.

One `Graph` is active inside `codediffuser.testing.fake_ros()`. Nothing runs on its own: publishing,
a service request or a due timer only queues work; the work runs when a test (or a node's `main`) spins
(`FakeRos.spin()`, `rclpy.spin_once`, an executor) or advances the clock (`FakeRos.advance`), one callback
at a time in FIFO order, so tests are deterministic. Every message and service payload crosses the graph
as CDR bytes made with the real definitions (`codediffuser.testing.messages`).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from codediffuser.testing.messages import from_cdr, to_cdr

_ACTIVE: list[Graph] = []


def current_graph() -> Graph:
    """The graph of the innermost active `fake_ros()`; RuntimeError outside of one."""
    if not _ACTIVE:
        raise RuntimeError("the fake rclpy is used outside `codediffuser.testing.fake_ros()`; enter it first")
    return _ACTIVE[-1]


def push_graph(graph: Graph) -> None:
    """Make `graph` the active one (nested contexts stack)."""
    _ACTIVE.append(graph)


def pop_graph(graph: Graph) -> None:
    """Deactivate `graph`."""
    _ACTIVE.remove(graph)


@dataclass(frozen=True)
class LogRecord:
    """One line a node logged."""

    logger: str
    level: str  # DEBUG, INFO, WARN, ERROR or FATAL
    message: str
    time_ns: int


class Graph:
    """Topics, services, timers, the simulated clock and the queue of pending callbacks."""

    def __init__(
        self,
        *,
        start_time_s: float = 1000.0,
        parameters: dict[str, dict[str, Any]] | None = None,
        remappings: dict[str, str] | None = None,
    ) -> None:
        self.now_ns = round(start_time_s * 1e9)
        self.initialized = False
        self.parameter_overrides = parameters or {}
        self.remappings = remappings or {}
        self.spin_duration_s = 0.0
        self.nodes: list[Any] = []
        self.publishers: list[Any] = []
        self.subscriptions: list[Any] = []
        self.services: dict[str, Any] = {}
        self.timers: list[Any] = []
        self.history: dict[str, list[Any]] = defaultdict(list)
        self.logs: list[LogRecord] = []
        self._queue: deque[tuple[Any, Callable[[], None]]] = deque()
        self._warned: set[tuple[int, int]] = set()

    # --- work queue -------------------------------------------------------------------------------
    def enqueue(self, node: Any, callback: Callable[[], None]) -> None:
        self._queue.append((node, callback))

    def run_one(self, nodes: Collection[Any] | None = None) -> bool:
        """Run the oldest pending callback (of `nodes`, default any); False when there is none."""
        for index, (node, callback) in enumerate(self._queue):
            if nodes is None or node in nodes:
                del self._queue[index]
                if not node.destroyed:
                    callback()
                return True
        return False

    def drain(self, nodes: Collection[Any] | None = None, max_steps: int = 100_000) -> int:
        """Run callbacks until none is pending; returns how many ran."""
        steps = 0
        while self.run_one(nodes):
            steps += 1
            if steps >= max_steps:
                raise RuntimeError(
                    f"still busy after {max_steps} callbacks: do callbacks keep triggering each other?"
                )
        return steps

    def next_timer_ns(self, nodes: Collection[Any] | None = None) -> int | None:
        due = [t.next_due_ns for t in self.timers if t.active and (nodes is None or t.node in nodes)]
        return min(due, default=None)

    def advance(self, seconds: float, nodes: Collection[Any] | None = None) -> None:
        """Move the clock forward, firing each due timer at its due time and running all resulting work."""
        if seconds < 0:
            raise ValueError(f"cannot move the clock backwards ({seconds} s)")
        target = self.now_ns + round(seconds * 1e9)
        self.drain(nodes)
        while (due := self.next_timer_ns(nodes)) is not None and due <= target:
            self.fire_next_timer(nodes)
            self.drain(nodes)
        self.now_ns = target
        self.drain(nodes)

    def fire_next_timer(self, nodes: Collection[Any] | None = None) -> None:
        """Jump the clock to the earliest due timer and queue its callback."""
        timers = [t for t in self.timers if t.active and (nodes is None or t.node in nodes)]
        timer = min(timers, key=lambda t: (t.next_due_ns, t.serial))
        self.now_ns = max(self.now_ns, timer.next_due_ns)
        timer.next_due_ns += timer.timer_period_ns
        self.enqueue(timer.node, timer.fire)

    # --- topics -----------------------------------------------------------------------------------
    def _check_type(self, topic: str, msg_type: type) -> None:
        for entity in [*self.publishers, *self.subscriptions]:
            if entity.topic_name == topic and entity.msg_type is not msg_type:
                raise TypeError(
                    f"topic {topic} carries {entity.msg_type._typename}; cannot also use it for {msg_type._typename}"
                )

    def _connected(self, pub: Any, sub: Any) -> bool:
        from codediffuser.testing.fake_rclpy.qos import incompatibility

        policy = incompatibility(pub.qos_profile, sub.qos_profile)
        if policy and (id(pub), id(sub)) not in self._warned:
            self._warned.add((id(pub), id(sub)))
            sub.node.get_logger().warn(
                f"New publisher discovered on topic '{sub.topic_name}', offering incompatible QoS. "
                f"No messages will be received from it. Last incompatible policy: {policy}"
            )
        return policy is None

    def add_publisher(self, pub: Any) -> None:
        self._check_type(pub.topic_name, pub.msg_type)
        self.publishers.append(pub)
        for sub in self.subscriptions:
            if sub.topic_name == pub.topic_name:
                self._connected(pub, sub)

    def add_subscription(self, sub: Any) -> None:
        self._check_type(sub.topic_name, sub.msg_type)
        self.subscriptions.append(sub)
        for pub in self.publishers:
            if (
                pub.topic_name == sub.topic_name
                and self._connected(pub, sub)
                and sub.qos_profile.transient_local
            ):
                for data in pub.latched:
                    sub.receive(data)

    def publish(self, pub: Any, msg: Any) -> None:
        data = to_cdr(msg)
        self.history[pub.topic_name].append(from_cdr(data, pub.msg_type))
        if pub.qos_profile.transient_local:
            pub.latched.append(data)
        for sub in self.subscriptions:
            if sub.topic_name == pub.topic_name and self._connected(pub, sub):
                sub.receive(data)

    # --- services ---------------------------------------------------------------------------------
    def add_service(self, service: Any) -> None:
        if service.srv_name in self.services:
            raise RuntimeError(
                f"service {service.srv_name} is already served by {self.services[service.srv_name].node.get_name()}"
            )
        self.services[service.srv_name] = service

    def request(self, client: Any, request: Any, future: Any) -> None:
        """Queue `request` on the server of `client`'s service; the response completes `future`."""
        service = self.services.get(client.srv_name)
        if service is None:
            return  # like DDS: a request nobody serves is never answered
        if service.srv_type is not client.srv_type:
            raise TypeError(
                f"service {client.srv_name} is {service.srv_type._typename}, the client uses {client.srv_type._typename}"
            )
        data = to_cdr(request)
        self.enqueue(
            service.node, lambda: service.handle(from_cdr(data, service.srv_type.Request), client, future)
        )

    def respond(self, client: Any, response: Any, future: Any) -> None:
        data = to_cdr(response)
        cls = client.srv_type.Response
        self.enqueue(client.node, lambda: None if future.done() else future.set_result(from_cdr(data, cls)))

    # --- parameters -------------------------------------------------------------------------------
    def overrides_for(self, name: str, fully_qualified: str) -> dict[str, Any]:
        """Parameter values for a node, from YAML-shaped dicts keyed by "/**", its name or its full name.

        A `ros__parameters` level is optional; nested mappings become dotted names ("fusion.voxel_size_m").
        """
        merged: dict[str, Any] = {}
        for key in ("/**", name, fully_qualified):
            entry = self.parameter_overrides.get(key, {})
            merged.update(_flatten(entry.get("ros__parameters", entry)))
        return merged


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested YAML mappings → dotted parameter names, as rcl reads parameter files."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
