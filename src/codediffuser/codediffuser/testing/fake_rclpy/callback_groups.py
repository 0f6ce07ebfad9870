"""Fake `rclpy.callback_groups`: recorded on every entity so tests can check which group serves what.

The harness runs callbacks one at a time in a deterministic order, whatever the group or executor.
"""

from __future__ import annotations


class CallbackGroup:
    """Base class of callback groups."""


class MutuallyExclusiveCallbackGroup(CallbackGroup):
    """Callbacks of this group never overlap (the node default)."""


class ReentrantCallbackGroup(CallbackGroup):
    """Callbacks of this group may overlap under a multi-threaded executor."""
