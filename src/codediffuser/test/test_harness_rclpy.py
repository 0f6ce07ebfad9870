"""The fake rclpy: a node written for real rclpy runs unchanged; traffic, time and parameters behave like ROS 2."""

import importlib.util
import sys
from pathlib import Path

import pytest

from codediffuser.testing import fake_ros

SAMPLE = Path(__file__).with_name("harness_sample_node.py")


@pytest.fixture
def ros():
    with fake_ros() as ros:
        yield ros


def _load_sample():
    spec = importlib.util.spec_from_file_location("harness_sample_node", SAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fake_modules_are_installed_only_inside_the_context():
    before = {name: sys.modules.get(name) for name in ("rclpy", "sensor_msgs.msg")}
    with fake_ros():
        import rclpy
        from sensor_msgs.msg import Image

        assert rclpy.__name__ == "codediffuser.testing.fake_rclpy"
        assert Image().encoding == ""
    assert {name: sys.modules.get(name) for name in before} == before


def test_sample_node_timers_subscriptions_services_and_logs(ros):
    sample = _load_sample()
    import rclpy
    from sensor_msgs.msg import JointState
    from std_srvs.srv import Trigger

    rclpy.init()
    node = sample.Sample()
    for _ in range(3):
        ros.publish("/joint_states", JointState(name=["waist"], position=[0.1]))
    assert node.count == 3
    ros.advance(1.0)  # 2 Hz timer: fires at +0.5 s and +1.0 s, at those clock times
    statuses = [m.data for m in ros.messages("/status")]
    assert statuses == [f"arm: 3 joint states at t={t}" for t in (1000_500_000_000, 1001_000_000_000)]
    response = ros.call("/sample/reset", Trigger.Request())
    assert (response.success, response.message, node.count) == (True, "reset after 3", 0)
    assert [r.message for r in ros.logs("WARN", "sample")] == ["counter reset"]
    assert node.services[0].callback_group is not node.default_callback_group


def test_latched_topic_reaches_late_transient_local_subscribers_only(ros):
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from std_msgs.msg import String

    rclpy.init()
    talker = Node("talker")
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    pub = talker.create_publisher(String, "map", latched)
    pub.publish(String(data="old"))
    pub.publish(String(data="new"))
    late, volatile = [], []
    listener = Node("listener")
    listener.create_subscription(String, "/map", late.append, latched)
    listener.create_subscription(String, "/map", volatile.append, 10)
    ros.spin()
    assert [m.data for m in late] == ["new"]
    assert volatile == []


def test_incompatible_qos_does_not_connect_and_warns(ros):
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from std_msgs.msg import String

    rclpy.init()
    node = Node("n")
    got = []
    node.create_subscription(String, "/t", got.append, 10)  # reliable
    node.create_publisher(String, "/t", qos_profile_sensor_data).publish(String(data="x"))  # best effort
    ros.spin()
    assert got == []
    assert "RELIABILITY" in ros.logs("WARN")[0].message


def test_keep_last_drops_oldest_and_type_errors_are_loud(ros):
    import rclpy
    from rclpy.node import Node
    from std_msgs.msg import Int32, String

    rclpy.init()
    node = Node("n")
    got = []
    node.create_subscription(Int32, "/n", lambda m: got.append(m.data), 2)
    pub = node.create_publisher(Int32, "/n", 10)
    for i in range(5):
        pub.publish(Int32(data=i))
    ros.spin()
    assert got == [3, 4]
    with pytest.raises(TypeError):
        pub.publish(String(data="no"))
    with pytest.raises(TypeError):
        node.create_subscription(String, "/n", print, 10)


def test_client_future_and_spin_until_future_complete(ros):
    import rclpy
    from rclpy.node import Node
    from std_srvs.srv import Trigger

    rclpy.init()
    server = Node("server")
    server.create_service(Trigger, "/go", lambda req, res: Trigger.Response(success=True, message="went"))
    client = Node("client").create_client(Trigger, "/go")
    assert client.wait_for_service(timeout_sec=1.0)
    future = client.call_async(Trigger.Request())
    assert not future.done()
    rclpy.spin_until_future_complete(server, future)
    assert not future.done()  # the response is processed by the client's node
    rclpy.spin_until_future_complete(client.node, future)
    assert future.result().message == "went"
    orphan = Node("c2").create_client(Trigger, "/nobody")
    assert not orphan.wait_for_service(timeout_sec=0.1)
    with pytest.raises(RuntimeError, match="/nobody"):
        orphan.call(Trigger.Request())


def test_parameters_overrides_types_ranges_and_descriptions():
    overrides = {"p": {"ros__parameters": {"gain": 2.5, "steps": 3, "fusion": {"voxel_size_m": 0.01}}}}
    with fake_ros(parameters=overrides):
        import rclpy
        from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
        from rclpy.exceptions import (
            InvalidParameterTypeException,
            InvalidParameterValueException,
            ParameterNotDeclaredException,
        )
        from rclpy.node import Node
        from rclpy.parameter import Parameter

        rclpy.init()
        node = Node("p")
        gain_range = ParameterDescriptor(
            description="controller gain",
            floating_point_range=[FloatingPointRange(from_value=0.0, to_value=5.0)],
        )
        assert node.declare_parameter("gain", 1.0, gain_range).value == 2.5
        assert node.describe_parameter("gain").description == "controller gain"
        assert node.get_parameter("gain").get_parameter_value().double_value == 2.5
        assert node.declare_parameter("fusion.voxel_size_m", 0.02).value == 0.01  # nested YAML → dotted name
        with pytest.raises(InvalidParameterTypeException):
            node.declare_parameter("steps", 3.0)  # the YAML says 3, an integer
        assert node.declare_parameter("names", ["a"]).value == ["a"]
        with pytest.raises(ParameterNotDeclaredException):
            node.get_parameter("nope")
        assert not node.set_parameters([Parameter("gain", value=9.0)])[0].successful
        assert not node.set_parameters([Parameter("gain", value="x")])[0].successful
        assert node.set_parameters([Parameter("gain", value=4.0)])[0].successful
        assert node.get_parameter("gain").value == 4.0
        with pytest.raises(InvalidParameterValueException):
            node.declare_parameter("bad", 9.0, gain_range)


def test_main_spins_until_the_harness_shuts_it_down(ros):
    sample = _load_sample()
    import rclpy

    ros.spin_duration_s = 2.0
    sample.main()
    assert len(ros.messages("/status")) == 4
    assert not rclpy.ok()
    assert ros.graph.nodes == []


def test_spin_once_jumps_to_the_next_timer_and_executor_runs_its_nodes(ros):
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node

    rclpy.init()
    ticks = []
    node = Node("clocked", namespace="robot")
    node.create_timer(0.25, lambda: ticks.append(node.get_clock().now().nanoseconds))
    rclpy.spin_once(node, timeout_sec=0.1)
    assert ticks == []  # nothing due within 0.1 s
    rclpy.spin_once(node)
    assert ticks == [1000_250_000_000]
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    executor.spin_once(timeout_sec=1.0)
    assert len(ticks) == 2
    assert node.resolve_name("~/x") == "/robot/clocked/x"
    assert node.resolve_name("y") == "/robot/y"


def test_logging_once_and_throttle(ros):
    import rclpy
    from rclpy.node import Node

    rclpy.init()
    logger = Node("l").get_logger()
    for _ in range(4):  # t = 0, 0.4, 0.8, 1.2 s
        logger.info("once", once=True)
        logger.error("throttled", throttle_duration_sec=1.0)
        ros.advance(0.4)
    assert [r.message for r in ros.logs()] == ["once", "throttled", "throttled"]


def test_node_requires_init_but_the_harness_can_publish_before(ros):
    import rclpy
    from rclpy.exceptions import NotInitializedException
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from std_msgs.msg import String

    with pytest.raises(NotInitializedException):
        Node("early")
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros.publish("/config", String(data="ready"), latched)  # e.g. static TF before the node under test starts
    rclpy.init()
    node = Node("late", parameter_overrides=[])
    got = []
    node.create_subscription(String, "/config", got.append, latched)
    ros.spin()
    assert [m.data for m in got] == ["ready"]
    assert node.get_parameter("use_sim_time").value is False  # declared by every node, as in rclpy
    assert [n.get_name() for n in ros.graph.nodes] == ["late"]


def test_timer_control_raw_subscriptions_remapping_and_time_arithmetic():
    with fake_ros(remappings={"/chatter": "/robot/chatter"}) as ros:
        import rclpy
        from rclpy.duration import Duration
        from rclpy.node import Node
        from rclpy.time import Time
        from std_msgs.msg import String

        rclpy.init()
        node = Node("n")
        ticks = []
        timer = node.create_timer(1.0, lambda: ticks.append(ros.now))
        ros.advance(1.0)
        timer.cancel()
        ros.advance(5.0)
        assert ticks == [1001.0]
        timer.reset()
        assert timer.time_until_next_call() == 1_000_000_000
        raw, parsed = [], []
        node.create_subscription(String, "/robot/chatter", raw.append, 10, raw=True)
        sub = node.create_subscription(String, "/robot/chatter", parsed.append, 10)
        pub = node.create_publisher(String, "chatter", 10)  # remapped to /robot/chatter
        assert pub.topic_name == "/robot/chatter"
        assert pub.get_subscription_count() == 2
        pub.publish(String(data="hi"))
        node.destroy_subscription(sub)
        pub.publish(String(data="again"))
        ros.spin()
        assert raw[0] == b"\x00\x01\x00\x00\x03\x00\x00\x00hi\x00"  # CDR bytes, as rclpy's raw=True gives
        assert len(raw) == 2
        assert parsed == []  # destroyed before the callbacks ran
        now = node.get_clock().now()
        later = now + Duration(seconds=1.5)
        assert (later - now).nanoseconds == 1_500_000_000
        assert Time.from_msg(later.to_msg()) == later


def test_set_parameters_callback_can_reject():
    with fake_ros():
        import rclpy
        from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
        from rclpy.node import Node
        from rclpy.parameter import Parameter

        rclpy.init()
        node = Node("p")
        node.declare_parameters(
            "limits", [("speed", 1.0), ("mode", "safe", ParameterDescriptor(read_only=True))]
        )

        def only_slow(params):
            fast = [p.name for p in params if p.name == "limits.speed" and p.value > 2.0]
            return SetParametersResult(successful=not fast, reason=f"too fast: {fast}")

        node.add_on_set_parameters_callback(only_slow)
        assert node.set_parameters([Parameter("limits.speed", value=1.5)])[0].successful
        result = node.set_parameters([Parameter("limits.speed", value=3.0)])[0]
        assert not result.successful
        assert "too fast" in result.reason
        assert "read-only" in node.set_parameters([Parameter("limits.mode", value="fast")])[0].reason
        assert {k: p.value for k, p in node.get_parameters_by_prefix("limits").items()} == {
            "speed": 1.5,
            "mode": "safe",
        }
