"""A node written for real rclpy (not a test file): the harness tests run it unchanged."""

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


class Sample(Node):
    """Counts joint states, publishes a status at `rate_hz`, serves ~/reset."""

    def __init__(self) -> None:
        super().__init__("sample")
        self.rate_hz = self.declare_parameter(
            "rate_hz", 2.0, ParameterDescriptor(description="status publishing rate [Hz]")
        ).value
        self.label = self.declare_parameter(
            "label", "arm", ParameterDescriptor(description="status prefix")
        ).value
        self.count = 0
        self.status_pub = self.create_publisher(String, "status", LATCHED)
        self.create_subscription(JointState, "/joint_states", self.on_joints, qos_profile_sensor_data)
        self.reset_group = MutuallyExclusiveCallbackGroup()
        self.create_service(Trigger, "~/reset", self.on_reset, callback_group=self.reset_group)
        self.create_timer(1.0 / self.rate_hz, self.on_timer)
        self.get_logger().info(f"sample up at {self.rate_hz} Hz")

    def on_joints(self, msg: JointState) -> None:
        self.count += 1

    def on_timer(self) -> None:
        msg = String()
        msg.data = f"{self.label}: {self.count} joint states at t={self.get_clock().now().nanoseconds}"
        self.status_pub.publish(msg)

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success = True
        response.message = f"reset after {self.count}"
        self.count = 0
        self.get_logger().warn("counter reset")
        return response


def main(args=None) -> None:
    rclpy.init(args=args)
    node = Sample()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
