"""Fake `rclpy.node.Node` and the entities it creates (publishers, subscriptions, services, clients, timers).

Names resolve as in ROS 2 (relative to the namespace, `~/x` to the node), then through the harness's
remappings. Wrong message types raise TypeError, as rclpy does; see `graph` for when callbacks run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from codediffuser.testing.fake_rclpy.callback_groups import CallbackGroup, MutuallyExclusiveCallbackGroup
from codediffuser.testing.fake_rclpy.clock import Clock, ROSClock
from codediffuser.testing.fake_rclpy.entities import (
    Client,
    Entity,
    Publisher,
    ServiceServer,
    Subscription,
    Timer,
)
from codediffuser.testing.fake_rclpy.exceptions import NotInitializedException
from codediffuser.testing.fake_rclpy.graph import Graph, current_graph
from codediffuser.testing.fake_rclpy.logging import RcutilsLogger
from codediffuser.testing.fake_rclpy.node_parameters import ParameterMixin
from codediffuser.testing.fake_rclpy.qos import QoSProfile, as_profile, qos_profile_services_default
from codediffuser.testing.messages import Message, Service

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Node(ParameterMixin):
    """A node in the active fake graph (rclpy.init() must have been called).

    Like rclpy, every node declares `use_sim_time` (False unless overridden).
    """

    _harness_probe = False  # True only for FakeRos's own probe node: no init needed, not listed

    def __init__(
        self,
        node_name: str,
        *,
        namespace: str | None = None,
        parameter_overrides: list[Any] | None = None,
        allow_undeclared_parameters: bool = False,
        automatically_declare_parameters_from_overrides: bool = False,
        **_options: Any,
    ) -> None:
        self.graph: Graph = current_graph()
        if not self.graph.initialized and not self._harness_probe:
            raise NotInitializedException("rclpy.init() has not been called")
        if not _TOKEN.fullmatch(node_name):
            raise ValueError(f"Invalid node name: {node_name!r}")
        self._name = node_name
        self._namespace = "/" + (namespace or "").strip("/")
        self._logger = RcutilsLogger(node_name)
        self._clock = ROSClock()
        self._default_group = MutuallyExclusiveCallbackGroup()
        self._entities: list[Entity] = []
        self.destroyed = False
        fqn = self.get_fully_qualified_name()
        self._overrides = {
            **self.graph.overrides_for(node_name, fqn),
            **{p.name: p.value for p in parameter_overrides or []},
        }
        self._allow_undeclared = allow_undeclared_parameters
        self._init_parameters()
        self.declare_parameter("use_sim_time", False)
        if automatically_declare_parameters_from_overrides:
            for name, value in self._overrides.items():
                if not self.has_parameter(name):
                    self.declare_parameter(name, value)
        if not self._harness_probe:
            self.graph.nodes.append(self)

    # --- identity, clock, logger ------------------------------------------------------------------
    def get_name(self) -> str:
        return self._name

    def get_namespace(self) -> str:
        return self._namespace

    def get_fully_qualified_name(self) -> str:
        return f"{self._namespace.rstrip('/')}/{self._name}"

    def get_logger(self) -> RcutilsLogger:
        return self._logger

    def get_clock(self) -> Clock:
        return self._clock

    @property
    def default_callback_group(self) -> CallbackGroup:
        return self._default_group

    def resolve_name(self, name: str) -> str:
        """Expand `name` to an absolute ROS name, then apply the harness remappings."""
        if name.startswith("~"):
            name = self.get_fully_qualified_name() + name[1:]
        elif not name.startswith("/"):
            name = f"{self._namespace.rstrip('/')}/{name}"
        if not all(_TOKEN.fullmatch(token) for token in name[1:].split("/")):
            raise ValueError(f"Invalid topic or service name: {name!r}")
        return self.graph.remappings.get(name, name)

    # --- entities ---------------------------------------------------------------------------------
    def _add(self, entity: Entity) -> Any:
        self._entities.append(entity)
        return entity

    def create_publisher(
        self,
        msg_type: type,
        topic: str,
        qos_profile: QoSProfile | int,
        *,
        callback_group: Any = None,
        **_options: Any,
    ) -> Publisher:
        _check_class(msg_type, Message)
        publisher = Publisher(
            self,
            msg_type,
            self.resolve_name(topic),
            as_profile(qos_profile),
            callback_group or self._default_group,
        )
        self.graph.add_publisher(publisher)
        return self._add(publisher)

    def create_subscription(
        self,
        msg_type: type,
        topic: str,
        callback: Callable,
        qos_profile: QoSProfile | int,
        *,
        callback_group: Any = None,
        raw: bool = False,
        **_options: Any,
    ) -> Subscription:
        _check_class(msg_type, Message)
        subscription = Subscription(
            self,
            msg_type,
            self.resolve_name(topic),
            callback,
            as_profile(qos_profile),
            callback_group or self._default_group,
            raw,
        )
        self._add(subscription)
        self.graph.add_subscription(subscription)
        return subscription

    def create_service(
        self,
        srv_type: type,
        srv_name: str,
        callback: Callable,
        *,
        qos_profile: QoSProfile = qos_profile_services_default,
        callback_group: Any = None,
    ) -> ServiceServer:
        _check_class(srv_type, Service)
        service = ServiceServer(
            self, srv_type, self.resolve_name(srv_name), callback, callback_group or self._default_group
        )
        self.graph.add_service(service)
        return self._add(service)

    def create_client(
        self,
        srv_type: type,
        srv_name: str,
        *,
        qos_profile: QoSProfile = qos_profile_services_default,
        callback_group: Any = None,
    ) -> Client:
        _check_class(srv_type, Service)
        return self._add(
            Client(self, srv_type, self.resolve_name(srv_name), callback_group or self._default_group)
        )

    def create_timer(
        self,
        timer_period_sec: float,
        callback: Callable,
        callback_group: Any = None,
        clock: Any = None,
        autostart: bool = True,
    ) -> Timer:
        timer = Timer(self, timer_period_sec, callback, callback_group or self._default_group, autostart)
        self.graph.timers.append(timer)
        return self._add(timer)

    def _destroy_entity(self, entity: Entity) -> bool:
        if entity not in self._entities:
            return False
        self._entities.remove(entity)
        entity.destroyed = True
        for table in (self.graph.publishers, self.graph.subscriptions, self.graph.timers):
            if entity in table:
                table.remove(entity)
        if isinstance(entity, ServiceServer):
            self.graph.services.pop(entity.srv_name, None)
        return True

    destroy_publisher = destroy_subscription = destroy_service = destroy_client = destroy_timer = (
        _destroy_entity
    )

    def destroy_node(self) -> None:
        for entity in list(self._entities):
            self._destroy_entity(entity)
        if self in self.graph.nodes:
            self.graph.nodes.remove(self)
        self.destroyed = True

    def _of_kind(self, kind: type) -> list[Any]:
        return [e for e in self._entities if isinstance(e, kind)]

    @property
    def publishers(self) -> list[Publisher]:
        return self._of_kind(Publisher)

    @property
    def subscriptions(self) -> list[Subscription]:
        return self._of_kind(Subscription)

    @property
    def services(self) -> list[ServiceServer]:
        return self._of_kind(ServiceServer)

    @property
    def clients(self) -> list[Client]:
        return self._of_kind(Client)

    @property
    def timers(self) -> list[Timer]:
        return self._of_kind(Timer)

    def count_publishers(self, topic: str) -> int:
        return sum(p.topic_name == self.resolve_name(topic) for p in self.graph.publishers)

    def count_subscribers(self, topic: str) -> int:
        return sum(s.topic_name == self.resolve_name(topic) for s in self.graph.subscriptions)


def _check_class(cls: Any, base: type) -> None:
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(
            f"expected a {base.__name__.lower()} class from the fake interface modules, got {cls!r}"
        )
