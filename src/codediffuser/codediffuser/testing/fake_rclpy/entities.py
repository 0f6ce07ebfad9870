"""The entities a fake `Node` creates: publishers, subscriptions, service servers, clients, timers.

They hold what rclpy's do (type, resolved name, QoS, callback group) and hand the actual traffic to the
graph (`graph.Graph`), which runs callbacks only when the test spins or advances time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from codediffuser.testing.fake_rclpy.qos import QoSProfile
from codediffuser.testing.fake_rclpy.task import Future
from codediffuser.testing.messages import from_cdr

if TYPE_CHECKING:
    from codediffuser.testing.fake_rclpy.node import Node


class Entity:
    """Something a node owns; `destroy()` detaches it from the graph (queued work for it is dropped)."""

    node: Node
    destroyed = False

    def destroy(self) -> None:
        self.node._destroy_entity(self)


class Publisher(Entity):
    """Publishes messages of one type on one topic."""

    def __init__(self, node: Node, msg_type: type, topic: str, qos: QoSProfile, callback_group: Any) -> None:
        self.node, self.msg_type, self.topic_name, self.qos_profile = node, msg_type, topic, qos
        self.callback_group = callback_group
        self.latched: deque[bytes] = deque(maxlen=qos.queue_bound)

    def publish(self, msg: Any) -> None:
        if not isinstance(msg, self.msg_type):
            raise TypeError(f"Expected {self.msg_type._typename}, got {type(msg).__name__}")
        self.node.graph.publish(self, msg)

    def get_subscription_count(self) -> int:
        return self.node.count_subscribers(self.topic_name)


class Subscription(Entity):
    """Receives the messages of one topic; KEEP_LAST depth bounds its queue."""

    def __init__(
        self,
        node: Node,
        msg_type: type,
        topic: str,
        callback: Callable,
        qos: QoSProfile,
        callback_group: Any,
        raw: bool,
    ) -> None:
        self.node, self.msg_type, self.topic_name, self.qos_profile = node, msg_type, topic, qos
        self.callback, self.callback_group, self.raw = callback, callback_group, raw
        self.inbox: deque[bytes] = deque(maxlen=qos.queue_bound)

    def receive(self, data: bytes) -> None:
        self.inbox.append(data)
        self.node.graph.enqueue(self.node, self._take)

    def _take(self) -> None:
        if self.inbox and not self.destroyed:  # empty inbox: KEEP_LAST dropped the message of this token
            data = self.inbox.popleft()
            self.callback(data if self.raw else from_cdr(data, self.msg_type))


class ServiceServer(Entity):
    """Serves one service name; the callback gets (request, response) and returns the response."""

    def __init__(
        self, node: Node, srv_type: type, name: str, callback: Callable, callback_group: Any
    ) -> None:
        self.node, self.srv_type, self.srv_name = node, srv_type, name
        self.callback, self.callback_group = callback, callback_group

    def handle(self, request: Any, client: Any, future: Future) -> None:
        if self.destroyed:
            return
        response = self.callback(request, self.srv_type.Response())
        if not isinstance(response, self.srv_type.Response):
            raise TypeError(
                f"service {self.srv_name}: the callback returned {response!r}, not a {self.srv_type.Response.__name__}"
            )
        self.node.graph.respond(client, response, future)


class Client(Entity):
    """Calls one service; `call` runs the graph until the response arrives (no second thread needed)."""

    def __init__(self, node: Node, srv_type: type, name: str, callback_group: Any) -> None:
        self.node, self.srv_type, self.srv_name, self.callback_group = node, srv_type, name, callback_group

    def call_async(self, request: Any) -> Future:
        if not isinstance(request, self.srv_type.Request):
            raise TypeError(f"Expected {self.srv_type.Request.__name__}, got {type(request).__name__}")
        future = Future()
        self.node.graph.request(self, request, future)
        return future

    def call(self, request: Any, timeout_sec: float | None = None) -> Any:
        future = self.call_async(request)
        self.node.graph.drain()
        if not future.done():
            raise RuntimeError(
                f"no response from {self.srv_name}: is the service created and its node alive?"
            )
        return future.result()

    def service_is_ready(self) -> bool:
        return self.srv_name in self.node.graph.services

    def wait_for_service(self, timeout_sec: float | None = None) -> bool:
        return self.service_is_ready()


class Timer(Entity):
    """Fires `callback` every `timer_period_ns` of harness time."""

    serials = 0

    def __init__(
        self, node: Node, period_s: float, callback: Callable, callback_group: Any, autostart: bool
    ) -> None:
        if period_s <= 0:
            raise ValueError(f"timer period must be positive, got {period_s} s")
        self.node, self.callback, self.callback_group = node, callback, callback_group
        self.timer_period_ns = round(period_s * 1e9)
        self.next_due_ns = node.graph.now_ns + self.timer_period_ns
        self.active = autostart
        Timer.serials += 1
        self.serial = Timer.serials

    def fire(self) -> None:
        """Run the callback unless the timer was cancelled or destroyed after it fell due."""
        if self.active and not self.destroyed:
            self.callback()

    def cancel(self) -> None:
        self.active = False

    def is_canceled(self) -> bool:
        return not self.active

    def reset(self) -> None:
        self.active = True
        self.next_due_ns = self.node.graph.now_ns + self.timer_period_ns

    def time_until_next_call(self) -> int | None:
        return self.next_due_ns - self.node.graph.now_ns if self.active else None
