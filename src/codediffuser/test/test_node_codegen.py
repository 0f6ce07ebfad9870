"""codegen_node in the ROS-free harness: /instruct → attention cloud, following the objects, failures."""

import json

import numpy as np
import pytest

from codediffuser.testing import fake_ros
from codediffuser_codegen.observation import observation_from_objects
from codediffuser_perception import ros_conversions as conv
from codediffuser_sim.instructions import SceneObject

INSTRUCTION = "pack the battery on the left into the front left slot"
METADATA = {"codegen_node": {"detector": "metadata", "mask_backend": "none"}}


def _layout() -> list[SceneObject]:
    return [
        SceneObject(1, "battery", "red battery", (-0.10, -0.05, 0.02), {"color": "red"}),
        SceneObject(2, "battery", "blue battery", (0.10, -0.05, 0.02), {"color": "blue"}),
        SceneObject(3, "slot", "slot front-1", (-0.10, 0.07, 0.01), {"row": "front", "column": "1"}),
        SceneObject(4, "slot", "slot front-2", (0.00, 0.07, 0.01), {"row": "front", "column": "2"}),
    ]


def _publish_scene(ros, shift=(0.0, 0.0, 0.0), stamp_s=None, hidden=()):
    from std_msgs.msg import String

    from codediffuser_perception.node import feature_cloud_message

    obs = observation_from_objects([o for o in _layout() if o.id not in hidden], np.random.default_rng(0))
    cloud = obs.cloud
    cloud.points = cloud.points + np.asarray(shift, dtype=np.float32)
    ros.publish(
        "/sim/objects", String(data=json.dumps({str(k): v for k, v in obs.objects.items()})), _latched()
    )
    ros.publish("/codediffuser/feature_cloud", feature_cloud_message(cloud, "world", stamp_s or ros.now))
    return cloud


def _latched():
    from codediffuser_codegen.node import LATCHED

    return LATCHED


def _start(ros):
    import rclpy

    from codediffuser_codegen.node import CodegenNode

    rclpy.init()
    return CodegenNode()


def _instruct(ros, text):
    from codediffuser_msgs.srv import Instruct

    return ros.call("/instruct", Instruct.Request(instruction=text))


def _attention(msg):
    points, _, extras = conv.cloud_to_points(msg)
    return points, extras["attention"]


def test_instruct_attends_to_the_right_instances_and_publishes_a_latched_attention_cloud():
    with fake_ros(parameters=METADATA) as ros:
        node = _start(ros)
        cloud = _publish_scene(ros)
        response = _instruct(ros, INSTRUCTION)
        assert response.success, response.message
        assert list(response.instance_ids) == [1, 3]
        assert [i.name for i in response.instances] == ["red battery", "slot front-1"]
        assert "attend(" in response.program
        (msg,) = ros.messages("/codediffuser/attention_cloud")
        assert [f.name for f in msg.fields] == ["x", "y", "z", "rgb", "attention"]
        points, attention = _attention(msg)
        np.testing.assert_allclose(points, cloud.points)
        np.testing.assert_array_equal(attention == 1.0, np.isin(cloud.object_ids, [1, 3]))
        # a late subscriber (rviz, the policy) still gets it: transient local
        from sensor_msgs.msg import PointCloud2

        late = []
        node.create_subscription(PointCloud2, "/codediffuser/attention_cloud", late.append, _latched())
        ros.spin()
        assert len(late) == 1


def test_the_attention_follows_the_objects_when_they_move():
    with fake_ros(parameters=METADATA) as ros:
        _start(ros)
        _publish_scene(ros)
        assert _instruct(ros, INSTRUCTION).success
        ros.advance(0.1)
        moved = _publish_scene(ros, shift=(0.03, 0.01, 0.0))
        clouds = ros.messages("/codediffuser/attention_cloud")
        assert len(clouds) == 2
        points, attention = _attention(clouds[-1])
        np.testing.assert_allclose(points, moved.points)
        np.testing.assert_array_equal(attention == 1.0, np.isin(moved.object_ids, [1, 3]))
        assert conv.stamp_to_seconds(clouds[-1].header.stamp) == pytest.approx(ros.now)


def test_a_lost_selection_is_reported_and_its_attention_no_longer_published():
    with fake_ros(parameters=METADATA) as ros:
        _start(ros)
        _publish_scene(ros)
        assert _instruct(ros, INSTRUCTION).success
        ros.advance(0.1)
        _publish_scene(ros, hidden=(1,))  # the red battery left the view
        assert len(ros.messages("/codediffuser/attention_cloud")) == 1
        assert any(
            "selection was lost" in r.message and "red battery" in r.message for r in ros.logs("ERROR")
        )
        ros.advance(0.1)
        _publish_scene(ros)  # back in view: followed again from the last cloud it was found on
        assert len(ros.messages("/codediffuser/attention_cloud")) == 2


def test_failures_are_responses_with_the_reason_and_the_node_keeps_serving():
    with fake_ros(parameters=METADATA) as ros:
        _start(ros)
        first = _instruct(ros, INSTRUCTION)
        assert not first.success
        assert "no feature cloud" in first.message
        _publish_scene(ros)
        for text, reason in [
            ("", "empty"),
            ("juggle three mugs", "must start with"),
            ("x" * 400, "longer than"),
        ]:
            response = _instruct(ros, text)
            assert not response.success
            assert reason in response.message
        assert ros.messages("/codediffuser/attention_cloud") == []
        assert _instruct(ros, INSTRUCTION).success


def test_llm_endpoint_down_gives_success_false_with_the_reason():
    params = {
        "codegen_node": {
            **METADATA["codegen_node"],
            "llm_model": "stub-vlm",
            "llm_base_url": "http://127.0.0.1:9/v1",  # discard port: nothing listens
            "llm_timeout_s": 2.0,
            "llm_retries": 0,
        }
    }
    with fake_ros(parameters=params) as ros:
        _start(ros)
        _publish_scene(ros)
        response = _instruct(ros, INSTRUCTION)
        assert not response.success
        assert "127.0.0.1:9" in response.message or "connect" in response.message.lower()
        assert ros.messages("/codediffuser/attention_cloud") == []


def test_features_detector_without_references_is_refused_at_start():
    from codediffuser_perception.ros_params import ConfigError

    with (
        fake_ros(parameters={"codegen_node": {"detector": "features"}}) as ros,
        pytest.raises(ConfigError, match="references_dir"),
    ):
        _start(ros)
