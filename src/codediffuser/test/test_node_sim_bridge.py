"""sim_bridge_node in the ROS-free harness: camera topic sets, TF, joint states, interbotix commands, reset."""

import json

import numpy as np
import pytest

from codediffuser.testing import fake_ros
from codediffuser_perception import ros_conversions as conv

pytestmark = pytest.mark.render

PARAMS = {
    "sim_bridge_node": {"width": 48, "height": 36, "control_hz": 10.0, "physics_hz": 200.0, "render_every": 5}
}
"""Small renders, every 5th control step: a lavapipe picture costs ≈ 0.3 s whatever its size."""


@pytest.fixture(scope="module")
def bridge_run():
    """One bridge, driven through a command sequence; returns what the test inspects."""
    with fake_ros(parameters=PARAMS) as ros:
        import rclpy
        from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
        from std_srvs.srv import Trigger

        from codediffuser_sim.bridge_node import SimBridgeNode

        rclpy.init()
        node = SimBridgeNode()
        start = {
            "tf": ros.messages("/tf_static"),
            "objects": ros.messages("/sim/objects"),
            "instruction": ros.messages("/sim/instruction"),
        }
        ros.advance(0.1)
        first = conv.joint_state_to_dict(ros.messages("/follower_left/joint_states")[-1])
        home = np.array([first[j] for j in node.env.arms["left"].model.joint_names])
        target = home + np.array([0.3, 0.0, 0.0, 0.0, 0.0, 0.0])
        ros.publish("/follower_left/commands/joint_group", JointGroupCommand(name="arm", cmd=target.tolist()))
        ros.publish("/follower_left/commands/joint_single", JointSingleCommand(name="gripper", cmd=0.7))
        ros.publish("/follower_right/commands/joint_group", JointGroupCommand(name="arm", cmd=[9.0] * 6))
        ros.publish("/follower_right/commands/joint_group", JointGroupCommand(name="arms", cmd=[0.0] * 6))
        ros.advance(1.0)
        moved = conv.joint_state_to_dict(ros.messages("/follower_left/joint_states")[-1])
        right = conv.joint_state_to_dict(ros.messages("/follower_right/joint_states")[-1])
        counts = {t: len(ros.messages(t)) for t in ros.graph.history}
        errors = [r.message for r in ros.logs("ERROR", "sim_bridge_node")]
        segmentation = ros.messages("/cameras/cam0/segmentation/image_raw")[-1]
        node.set_parameters([rclpy.parameter.Parameter("seed", value=5)])
        reset = ros.call("/sim/reset", Trigger.Request())
        node.set_parameters([rclpy.parameter.Parameter("level", value="sideways")])
        refused = ros.call("/sim/reset", Trigger.Request())
        yield {
            "start": start,
            "home": home,
            "target": target,
            "moved": moved,
            "right": right,
            "counts": counts,
            "errors": errors,
            "reset": reset,
            "refused": refused,
            "images": ros.messages("/cameras/cam0/color/image_raw"),
            "depth": ros.messages("/cameras/cam0/aligned_depth_to_color/image_raw"),
            "segmentation": segmentation,
            "info": ros.messages("/cameras/cam0/color/camera_info"),
            "names": node.env.arms["left"].model.joint_names,
        }


def test_publishes_the_realsense_topic_sets_and_static_tf(bridge_run):
    counts = bridge_run["counts"]
    assert counts["/follower_left/joint_states"] == 12  # at reset and after each of 11 control steps
    for cam in ("cam0", "cam1", "cam2", "cam3"):
        for topic in (
            "color/image_raw",
            "aligned_depth_to_color/image_raw",
            "color/camera_info",
            "segmentation/image_raw",
        ):
            assert counts[f"/cameras/{cam}/{topic}"] == 3, topic  # at reset, after steps 5 and 10
    color, depth = bridge_run["images"][-1], bridge_run["depth"][-1]
    assert (color.encoding, depth.encoding, color.width, color.height) == ("rgb8", "16UC1", 48, 36)
    assert color.header.frame_id == "cam0_color_optical_frame"
    assert color.header.stamp == depth.header.stamp
    assert conv.image_to_depth_m(depth).max() > 0.2
    assert conv.camera_info_to_K(bridge_run["info"][-1])[0, 0] > 0
    frames = {t.child_frame_id for t in bridge_run["start"]["tf"][0].transforms}
    assert frames == {f"cam{i}_color_optical_frame" for i in range(4)} | {
        "follower_left/base_link",
        "follower_right/base_link",
    }


def test_episode_metadata_is_latched(bridge_run):
    objects = json.loads(bridge_run["start"]["objects"][0].data)
    assert {"battery", "slot"} <= {o["category"] for o in objects.values()}
    ids = np.unique(conv.image_to_labels(bridge_run["segmentation"]))
    assert {int(i) for i in ids if i} <= {int(k) for k in objects}
    assert bridge_run["start"]["instruction"][0].data.startswith(("pack", "put", "place", "insert"))


def test_joint_group_and_gripper_commands_move_the_simulated_arm(bridge_run):
    moved, names = bridge_run["moved"], bridge_run["names"]
    q = np.array([moved[j] for j in names])
    np.testing.assert_allclose(q, bridge_run["target"], atol=0.03)
    assert moved["gripper"] == pytest.approx(0.7, abs=0.05)
    assert moved["left_finger"] == pytest.approx(-moved["right_finger"])


def test_bad_commands_are_logged_and_ignored(bridge_run):
    errors = bridge_run["errors"]
    assert any("follower_right" in e and "outside" in e for e in errors)
    assert any("need group 'arm'" in e for e in errors)
    right = bridge_run["right"]
    assert all(abs(right[j]) < 3.0 for j in bridge_run["names"])


def test_reset_starts_the_episode_named_by_the_parameters(bridge_run):
    assert bridge_run["reset"].success
    assert bridge_run["reset"].message
    assert not bridge_run["refused"].success
    assert "unknown level 'sideways'" in bridge_run["refused"].message
