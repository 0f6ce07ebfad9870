"""Fake `rclpy.qos`: the profiles and policies nodes pass to publishers and subscriptions.

The harness uses them as DDS would: a best-effort publisher does not reach a reliable subscription, a
volatile publisher does not reach a transient-local one, and transient-local publishers replay their last
`depth` messages to late transient-local subscriptions (latching). KEEP_LAST bounds a subscription's queue.
"""

from __future__ import annotations

from enum import IntEnum


class ReliabilityPolicy(IntEnum):
    """Delivery guarantee."""

    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2


class DurabilityPolicy(IntEnum):
    """Whether late subscribers get the publisher's recent messages."""

    SYSTEM_DEFAULT = 0
    TRANSIENT_LOCAL = 1
    VOLATILE = 2


class HistoryPolicy(IntEnum):
    """Queue bound."""

    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2


QoSReliabilityPolicy = ReliabilityPolicy
QoSDurabilityPolicy = DurabilityPolicy
QoSHistoryPolicy = HistoryPolicy


class QoSProfile:
    """A QoS profile; like rclpy, it must be given `history` or `depth`."""

    def __init__(
        self,
        *,
        history: HistoryPolicy | None = None,
        depth: int | None = None,
        reliability: ReliabilityPolicy = ReliabilityPolicy.RELIABLE,
        durability: DurabilityPolicy = DurabilityPolicy.VOLATILE,
        **_other_policies: object,
    ) -> None:
        if history is None and depth is None:
            raise TypeError("QoSProfile must be given history and/or depth settings")
        self.history = HistoryPolicy.KEEP_LAST if history is None else HistoryPolicy(history)
        self.depth = 10 if depth is None else int(depth)
        self.reliability = ReliabilityPolicy(reliability)
        self.durability = DurabilityPolicy(durability)

    @property
    def reliable(self) -> bool:
        return self.reliability != ReliabilityPolicy.BEST_EFFORT

    @property
    def transient_local(self) -> bool:
        return self.durability == DurabilityPolicy.TRANSIENT_LOCAL

    @property
    def queue_bound(self) -> int | None:
        """Messages a subscription keeps before dropping the oldest (None: unbounded)."""
        return None if self.history == HistoryPolicy.KEEP_ALL else max(self.depth, 1)

    def __repr__(self) -> str:
        return (
            f"QoSProfile(history={self.history.name}, depth={self.depth}, "
            f"reliability={self.reliability.name}, durability={self.durability.name})"
        )


def as_profile(qos: QoSProfile | int) -> QoSProfile:
    """Accept what rclpy accepts for `qos_profile`: a profile or a KEEP_LAST depth."""
    if isinstance(qos, QoSProfile):
        return qos
    if isinstance(qos, int) and not isinstance(qos, bool):
        return QoSProfile(depth=qos)
    raise TypeError(f"qos_profile must be a QoSProfile or an int depth, got {qos!r}")


def incompatibility(offered: QoSProfile, requested: QoSProfile) -> str | None:
    """The policy that stops a publisher (`offered`) from reaching a subscription, or None."""
    if requested.reliable and not offered.reliable:
        return "RELIABILITY"
    if requested.transient_local and not offered.transient_local:
        return "DURABILITY"
    return None


qos_profile_sensor_data = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
qos_profile_system_default = QoSProfile(depth=10)
qos_profile_services_default = QoSProfile(depth=10)
qos_profile_parameters = QoSProfile(depth=1000)
