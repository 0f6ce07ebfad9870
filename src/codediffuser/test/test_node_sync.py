"""The fusion node's pure helpers: approximate-time grouping of image streams and the stale check."""

import pytest

from codediffuser_perception.node_sync import ApproximateSync, StaleMonitor


def test_emits_one_set_per_instant_within_the_slop():
    sync = ApproximateSync(["a", "b", "c"], slop_s=0.02)
    assert sync.add("a", 1.000, "a1") is None
    assert sync.add("b", 1.010, "b1") is None
    assert sync.add("c", 1.015, "c1") == {"a": "a1", "b": "b1", "c": "c1"}
    # each message is used once: the next set needs new messages on every stream
    assert sync.add("a", 1.100, "a2") is None
    assert sync.add("b", 1.105, "b2") is None
    assert sync.add("c", 1.101, "c2") == {"a": "a2", "b": "b2", "c": "c2"}


def test_picks_the_closest_message_of_each_stream():
    sync = ApproximateSync(["color", "depth"], slop_s=0.01)
    sync.add("color", 2.000, "c0")
    sync.add("color", 2.033, "c1")
    assert sync.add("depth", 2.034, "d1") == {"color": "c1", "depth": "d1"}


def test_too_wide_a_spread_emits_nothing_and_late_messages_are_dropped():
    sync = ApproximateSync(["a", "b"], slop_s=0.01)
    sync.add("a", 1.0, "a1")
    assert sync.add("b", 1.5, "b1") is None
    assert sync.add("a", 1.505, "a2") == {"a": "a2", "b": "b1"}
    assert sync.add("b", 1.2, "late") is None  # older than the set just emitted


def test_queues_are_bounded():
    sync = ApproximateSync(["a", "b"], slop_s=0.001, queue_size=2)
    for i in range(5):
        sync.add("a", float(i), f"a{i}")
    assert sync.add("b", 0.0, "b0") is None  # a0 was dropped from the bounded queue
    assert sync.add("b", 4.0, "b4") == {"a": "a4", "b": "b4"}


@pytest.mark.parametrize(
    ("streams", "slop", "queue"), [([], 0.1, 1), (["a", "a"], 0.1, 1), (["a"], -1, 1), (["a"], 0.1, 0)]
)
def test_bad_construction(streams, slop, queue):
    with pytest.raises(ValueError, match=r"streams must be unique|need slop_s"):
        ApproximateSync(streams, slop, queue)


def test_unknown_stream_is_a_key_error():
    with pytest.raises(KeyError, match="unknown stream 'x'"):
        ApproximateSync(["a"], 0.1).add("x", 0.0, None)


def test_stale_monitor_counts_silence_from_start_and_from_the_last_message():
    monitor = StaleMonitor(["cam0", "cam1"], stale_after_s=1.0, start_s=10.0)
    assert monitor.stale(10.5) == {}
    monitor.seen("cam0", 10.8)
    assert monitor.stale(11.5) == pytest.approx({"cam1": 1.5})
    assert set(monitor.stale(12.0)) == {"cam0", "cam1"}
