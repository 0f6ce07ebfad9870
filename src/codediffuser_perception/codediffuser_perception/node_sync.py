"""Pure helpers of the nodes and the bag replay: approximate-time grouping of streams, stale sources.

ROS-free (stamps are floats in seconds, messages are opaque), so `fusion_node` and `codediffuser
replay` group camera images the same way and the logic is unit-tested without a graph.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import numpy as np


class ApproximateSync:
    """Group one message per stream whose stamps lie within `slop_s` of each other.

    The approximate-time policy of `message_filters`, reduced to what fusion needs: when a message
    arrives, every other stream contributes its queued message closest in time; the set is emitted when
    the spread of its stamps is at most `slop_s`. Emitted and older messages are dropped, so sets come
    out in time order and a message is used once. Each stream keeps its `queue_size` newest messages.
    """

    def __init__(self, streams: Sequence[str], slop_s: float, queue_size: int = 10) -> None:
        if len(set(streams)) != len(streams) or not streams:
            raise ValueError(f"streams must be unique and non-empty, got {list(streams)}")
        if slop_s < 0 or queue_size < 1:
            raise ValueError(f"need slop_s >= 0 and queue_size >= 1, got {slop_s}, {queue_size}")
        self.slop_s = slop_s
        self.queue_size = queue_size
        self._queues: dict[str, list[tuple[float, Any]]] = {s: [] for s in streams}
        self._last_emitted = -np.inf

    def add(self, stream: str, stamp_s: float, msg: Any) -> dict[str, Any] | None:
        """Queue `msg`; return the synchronised set (stream → message) it completes, if any."""
        if stream not in self._queues:
            raise KeyError(f"unknown stream {stream!r}; streams: {sorted(self._queues)}")
        if stamp_s <= self._last_emitted:
            return None  # older than a set already emitted
        queue = self._queues[stream]
        bisect.insort(queue, (stamp_s, msg), key=lambda item: item[0])
        del queue[: max(0, len(queue) - self.queue_size)]
        chosen = {stream: (stamp_s, msg)}
        for other, items in self._queues.items():
            if other == stream:
                continue
            if not items:
                return None
            chosen[other] = min(items, key=lambda item: abs(item[0] - stamp_s))
        stamps = [s for s, _ in chosen.values()]
        if max(stamps) - min(stamps) > self.slop_s:
            return None
        newest = max(stamps)
        for items in self._queues.values():
            items[:] = [item for item in items if item[0] > newest]
        self._last_emitted = newest
        return {name: m for name, (_, m) in chosen.items()}


class StaleMonitor:
    """Which sources have not delivered for longer than `stale_after_s` (never-seen ones count from start)."""

    def __init__(self, sources: Sequence[str], stale_after_s: float, start_s: float) -> None:
        self.stale_after_s = stale_after_s
        self._last = dict.fromkeys(sources, start_s)

    def seen(self, source: str, now_s: float) -> None:
        self._last[source] = now_s

    def stale(self, now_s: float) -> dict[str, float]:
        """Stale source → seconds since its last message (or since start)."""
        return {s: now_s - t for s, t in self._last.items() if now_s - t > self.stale_after_s}
