"""ROS-free test harness: a fake rclpy, rclpy-like interface classes with real CDR layouts, a launch stand-in.

Typical node test (see docs/testing.md):

    with fake_ros(parameters={"talker": {"rate_hz": 5.0}}) as ros:
        import my_pkg.talker_node as talker     # written for real rclpy
        rclpy.init(); node = talker.Talker()
        ros.advance(1.0)
        assert len(ros.messages("/chatter")) == 5
"""

from codediffuser.testing.fake_rclpy.graph import LogRecord
from codediffuser.testing.harness import FakeRos, fake_ros
from codediffuser.testing.messages import message_classes, message_modules, roundtrip

__all__ = ["FakeRos", "LogRecord", "fake_ros", "message_classes", "message_modules", "roundtrip"]
