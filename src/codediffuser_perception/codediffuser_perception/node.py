"""fusion_node: four synchronised RGB-D views → `/codediffuser/feature_cloud` (DESIGN.md §1, §6).

Subscribes, per camera `camN` of `camera_names`, the RealSense topic set (`/cameras/camN/color/image_raw`,
`.../aligned_depth_to_color/image_raw`, `.../color/camera_info`; the simulator bridge publishes the
same, plus `.../segmentation/image_raw` when `use_segmentation`). Colour, depth (and segmentation) of
all cameras are grouped by `ApproximateSync`; each complete set becomes `CameraView`s with K from the
latest camera_info and `T_world_cam` from the static TF `world → camN_color_optical_frame` (published
from the calibration, config/cameras.yaml, or by the bridge), is fused (`fusion.fuse_views`), given
DINOv2 features when configured (`features.fuse_features`), and published.

Stale data: a 1 Hz check logs an error naming every camera whose last frame is older than
`stale_after_s`; no cloud is published from an incomplete set, so downstream data ages visibly (the
policy node refuses to act on an old attention cloud).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import Executor, ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from tf2_msgs.msg import TFMessage

from codediffuser_msgs.msg import FeatureCloud as FeatureCloudMsg
from codediffuser_perception import ros_conversions as conv
from codediffuser_perception.fusion import FusionConfig, fuse_views
from codediffuser_perception.node_sync import ApproximateSync, StaleMonitor
from codediffuser_perception.ros_params import ConfigError, declare_config
from codediffuser_perception.types import CameraView, FeatureCloud, PerceptionError

STREAMS = ("color", "depth", "segmentation")
TOPICS = {
    "color": "color/image_raw",
    "depth": "aligned_depth_to_color/image_raw",
    "segmentation": "segmentation/image_raw",
    "info": "color/camera_info",
}
FEATURE_CLOUD_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
TF_STATIC_QOS = QoSProfile(
    depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


@dataclass
class FusionNodeConfig:
    """Parameters of fusion_node.

    Attributes:
        camera_names: cameras to fuse; each one's topics live under `/cameras/<name>/` and its optical
            frame is `<name>_color_optical_frame`.
        world_frame: TF parent of the camera frames; the frame of the published cloud.
        sync_slop_s: largest spread of the stamps in one synchronised set of images, seconds.
        sync_queue_size: images kept per stream while waiting for the others.
        stale_after_s: a camera silent for longer than this is reported stale, seconds.
        min_period_s: shortest time between two published clouds, seconds (fusion and features cost).
        use_segmentation: also synchronise `/cameras/<name>/segmentation/image_raw` (simulator only);
            the cloud's points then carry the simulator object id (field `object_id`).
        feature_backend: "none" (xyz + colour only) or "dinov2" (per-point DINOv2 features).
        dinov2_model: local folder or hub id of the DINOv2 weights (feature_backend "dinov2").
        dinov2_short_side_px: DINOv2 input short side in pixels (finer features cost quadratically more).
        device: torch device of the feature extractor.
        fusion: crop box, voxel size and outlier removal of `fuse_views`.
    """

    camera_names: tuple[str, ...] = ("cam0", "cam1", "cam2", "cam3")
    world_frame: str = "world"
    sync_slop_s: float = 0.05
    sync_queue_size: int = 10
    stale_after_s: float = 1.0
    min_period_s: float = 0.1
    use_segmentation: bool = False
    feature_backend: str = "none"
    dinov2_model: str = "facebook/dinov2-small"
    dinov2_short_side_px: int = 448
    device: str = "cpu"
    fusion: FusionConfig = field(default_factory=FusionConfig)

    def __post_init__(self) -> None:
        if not self.camera_names or len(set(self.camera_names)) != len(self.camera_names):
            raise ConfigError(f"camera_names must be unique and non-empty, got {self.camera_names}")
        if self.sync_slop_s < 0 or self.sync_queue_size < 1:
            raise ConfigError(
                f"need sync_slop_s >= 0, sync_queue_size >= 1, got {self.sync_slop_s}, {self.sync_queue_size}"
            )
        if not self.stale_after_s > 0 or self.min_period_s < 0:
            raise ConfigError(
                f"need stale_after_s > 0, min_period_s >= 0, got {self.stale_after_s}, {self.min_period_s}"
            )
        if self.feature_backend not in ("none", "dinov2"):
            raise ConfigError(f"feature_backend must be 'none' or 'dinov2', got {self.feature_backend!r}")


def feature_cloud_message(cloud: FeatureCloud, frame_id: str, stamp: Any) -> FeatureCloudMsg:
    """The FeatureCloud message of a fused cloud.

    Simulator object ids ride along as the float32 point field `object_id` (exact below 2**24), which
    `codegen_node` reads back for the metadata oracle.
    """
    msg = conv.feature_cloud_to_msg(cloud, FeatureCloudMsg(), frame_id, stamp)
    if cloud.object_ids is not None:
        conv.points_to_cloud(
            cloud.points,
            cloud.colors,
            frame_id,
            stamp,
            msg.cloud,
            object_id=cloud.object_ids.astype(np.float32),
        )
    return msg


class FusionNode(Node):
    """Subscriptions per camera, the synchroniser, the stale check and the feature cloud publisher."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__("fusion_node", **node_options)
        self.config = declare_config(self, FusionNodeConfig)
        cfg = self.config
        self.extractor = self._make_extractor()
        kinds = ("color", "depth", "segmentation") if cfg.use_segmentation else ("color", "depth")
        self.sync = ApproximateSync(
            [f"{cam}/{k}" for cam in cfg.camera_names for k in kinds], cfg.sync_slop_s, cfg.sync_queue_size
        )
        now = self._now()
        self.stale = StaleMonitor(cfg.camera_names, cfg.stale_after_s, now)
        self.camera_infos: dict[str, Any] = {}
        self.tf_edges: dict[str, Any] = {}  # child frame → latest TransformStamped (/tf_static, /tf)
        self.last_published_s = -np.inf
        for cam in cfg.camera_names:
            for kind in kinds:
                self.create_subscription(
                    Image,
                    f"/cameras/{cam}/{TOPICS[kind]}",
                    self._image_callback(cam, kind),
                    qos_profile_sensor_data,
                )
            self.create_subscription(
                CameraInfo,
                f"/cameras/{cam}/{TOPICS['info']}",
                self._info_callback(cam),
                qos_profile_sensor_data,
            )
        self.create_subscription(TFMessage, "/tf_static", self.on_tf, TF_STATIC_QOS)
        self.create_subscription(TFMessage, "/tf", self.on_tf, 100)
        self.publisher = self.create_publisher(
            FeatureCloudMsg, "/codediffuser/feature_cloud", FEATURE_CLOUD_QOS
        )
        self.create_timer(1.0, self.check_stale)
        self.get_logger().info(f"fusing {list(cfg.camera_names)} (features: {cfg.feature_backend})")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _make_extractor(self) -> Any:
        if self.config.feature_backend == "none":
            return None
        from codediffuser_perception.dinov2 import Dinov2Extractor

        return Dinov2Extractor(
            self.config.dinov2_model,
            device=self.config.device,
            short_side_px=self.config.dinov2_short_side_px,
        )

    def _image_callback(self, cam: str, kind: str):
        def callback(msg: Image) -> None:
            self.stale.seen(cam, self._now())
            group = self.sync.add(f"{cam}/{kind}", conv.stamp_to_seconds(msg.header.stamp), msg)
            if group is not None:
                self.on_synchronised(group)

        return callback

    def _info_callback(self, cam: str):
        def callback(msg: CameraInfo) -> None:
            self.camera_infos[cam] = msg

        return callback

    def on_tf(self, msg: TFMessage) -> None:
        for transform in msg.transforms:
            self.tf_edges[transform.child_frame_id.lstrip("/")] = transform

    def check_stale(self) -> None:
        stale = self.stale.stale(self._now())
        if stale:
            ages = ", ".join(f"{cam} ({age:.1f} s)" for cam, age in sorted(stale.items()))
            self.get_logger().error(f"stale camera data, no feature cloud: no frame from {ages}")

    def views(self, group: dict[str, Any]) -> list[CameraView]:
        """The synchronised images as `CameraView`s; `PerceptionError` naming what is missing or wrong."""
        views = []
        for cam in self.config.camera_names:
            frame = f"{cam}_color_optical_frame"
            if cam not in self.camera_infos:
                raise PerceptionError(
                    f"{cam}: no camera_info received yet on /cameras/{cam}/{TOPICS['info']}"
                )
            color = group[f"{cam}/color"]
            segmentation = group.get(f"{cam}/segmentation")
            views.append(
                CameraView(
                    name=cam,
                    rgb=conv.image_to_rgb(color),
                    depth=conv.image_to_depth_m(group[f"{cam}/depth"]),
                    K=conv.camera_info_to_K(self.camera_infos[cam]),
                    T_world_cam=conv.lookup_transform(self.tf_edges.values(), self.config.world_frame, frame),
                    stamp=conv.stamp_to_seconds(color.header.stamp),
                    segmentation=None if segmentation is None else conv.image_to_labels(segmentation),
                )
            )
        return views

    def on_synchronised(self, group: dict[str, Any]) -> None:
        now = self._now()
        if now - self.last_published_s < self.config.min_period_s:
            return
        try:
            views = self.views(group)
            cloud = fuse_views(views, self.config.fusion)
            if self.extractor is not None:
                from codediffuser_perception.features import fuse_features

                cloud = fuse_features(cloud, self.extractor)
        except (PerceptionError, ValueError) as exc:
            self.get_logger().error(f"no feature cloud from this set: {exc}")
            return
        stamp = group[f"{self.config.camera_names[0]}/color"].header.stamp
        self.publisher.publish(feature_cloud_message(cloud, self.config.world_frame, stamp))
        self.last_published_s = now


def spin_until_shutdown(node: Node, executor: Executor | None = None) -> None:
    """Spin `node` until Ctrl-C or an external shutdown (the launch system), then destroy it and shut rclpy down.

    The tail of every node's `main()` (the other packages' nodes import it from here). `executor`: one for
    nodes with several callback groups (a `MultiThreadedExecutor`); None spins with `rclpy.spin`.
    """
    if executor is not None:
        executor.add_node(node)
    try:
        if executor is None:
            rclpy.spin(node)
        else:
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def main(args: list[str] | None = None) -> None:
    """`ros2 run codediffuser_perception fusion_node`."""
    rclpy.init(args=args)
    try:
        node = FusionNode()
    except ConfigError as exc:
        rclpy.logging.get_logger("fusion_node").fatal(f"bad parameters: {exc}")
        rclpy.try_shutdown()
        raise SystemExit(2) from exc
    spin_until_shutdown(node)
