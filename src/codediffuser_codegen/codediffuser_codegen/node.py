"""codegen_node: `/instruct` → program → attended instances → `/codediffuser/attention_cloud` (DESIGN.md §1, §6).

`/instruct` (codediffuser_msgs/Instruct) runs `pipeline.run_instruction` on the latest feature cloud: the
offline generator, or a VLM on an OpenAI-compatible endpoint (`llm_model`), writes the program; the
sandbox runs it against the perception API; every failure (endpoint down, refused program, nothing
found) is a response with `success=false` and the reason. The request's `task` hint is not needed: the
pipeline infers the task from the instruction's nouns. The service has its own callback group, so
with the multi-threaded executor of `main` a slow model never stalls the cloud subscription.

The attention follows the objects: on every new feature cloud the selected instances are found again
(`detector` "metadata": the same simulator objects by id; "features": `perception.tracking.
track_instances`, position + feature matching) and the attention cloud is republished with the new
cloud's stamp. When they are lost, the node logs it and stops publishing, so the attention ages and the
policy stops. The attention cloud is PointCloud2 x, y, z, rgb, attention (float32), transient local.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import String

from codediffuser_codegen.api import PerceptionAPI
from codediffuser_codegen.oracle import match_metadata, metadata_detector, with_object_metadata
from codediffuser_codegen.pipeline import OfflineWriter, instance_attention, run_instruction
from codediffuser_codegen.sandbox import Sandbox, SandboxLimits
from codediffuser_msgs.msg import FeatureCloud as FeatureCloudMsg
from codediffuser_msgs.msg import Instance as InstanceMsg
from codediffuser_msgs.srv import Instruct
from codediffuser_perception import ros_conversions as conv
from codediffuser_perception.attention import AttentionConfig
from codediffuser_perception.node import spin_until_shutdown
from codediffuser_perception.ros_params import ConfigError, declare_config
from codediffuser_perception.types import Attention, FeatureCloud, Instance, PerceptionError

LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
FEATURE_CLOUD_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)


@dataclass
class CodegenNodeConfig:
    """Parameters of codegen_node.

    Attributes:
        detector: "metadata" (simulator oracle: `/sim/objects` + the cloud's per-point object ids) or
            "features" (reference-feature detector over the cloud's DINOv2 features).
        references_dir: reference store written by `codediffuser annotate` (detector "features").
        mask_backend: "none" (attention on the instances' own points) or "sam" (SAM masks on the views
            fused back to the cloud).
        sam_model: local folder or hub id of the SAM weights (mask_backend "sam").
        llm_model: VLM on an OpenAI-compatible endpoint that writes programs and answers sel_name; empty
            = the offline generator and the metadata name matcher.
        llm_base_url: the endpoint, e.g. "http://localhost:8000/v1"; empty = OpenAI.
        llm_api_key_env: environment variable holding the key; empty = the client's defaults.
        llm_timeout_s: per-request timeout in seconds.
        llm_retries: retries of a transient endpoint failure.
        max_repairs: times a failing program goes back to the model with its error.
        follow: recompute the attention on every new feature cloud (closed-loop attention).
        attention: mask-to-attention settings (mask_backend "sam").
        sandbox: budgets of one program run.
    """

    detector: str = "features"
    references_dir: str = ""
    mask_backend: str = "sam"
    sam_model: str = "facebook/sam-vit-base"
    llm_model: str = ""
    llm_base_url: str = ""
    llm_api_key_env: str = ""
    llm_timeout_s: float = 30.0
    llm_retries: int = 2
    max_repairs: int = 2
    follow: bool = True
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)

    def __post_init__(self) -> None:
        if self.detector not in ("metadata", "features"):
            raise ConfigError(f"detector must be 'metadata' or 'features', got {self.detector!r}")
        if self.mask_backend not in ("none", "sam"):
            raise ConfigError(f"mask_backend must be 'none' or 'sam', got {self.mask_backend!r}")


def cloud_from_msg(msg: FeatureCloudMsg) -> FeatureCloud:
    """The core cloud of a FeatureCloud message, with the simulator object ids when the points carry them."""
    cloud = conv.msg_to_feature_cloud(msg)
    _, _, extras = conv.cloud_to_points(msg.cloud)
    if "object_id" in extras:
        cloud = dataclasses.replace(cloud, object_ids=np.rint(extras["object_id"]).astype(np.int32))
    return cloud


def instance_message(inst: Instance) -> InstanceMsg:
    """codediffuser_msgs/Instance of a core `Instance`."""
    msg = InstanceMsg(
        id=int(inst.id), category=inst.category, name=inst.metadata.get("name", ""), score=float(inst.score)
    )
    for name in ("centroid", "bbox_min", "bbox_max"):
        point = getattr(msg, name)
        point.x, point.y, point.z = (float(v) for v in getattr(inst, name))
    msg.indices = np.asarray(inst.indices, dtype=np.uint32).tolist()
    return msg


class CodegenNode(Node):
    """Holds the latest cloud, serves `/instruct`, and keeps the selection's attention up to date."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__("codegen_node", **node_options)
        self.config = declare_config(self, CodegenNodeConfig)
        cfg = self.config
        self.sandbox = Sandbox(cfg.sandbox)
        self.references = self._references()
        self.predictor = self._predictor()
        self.writer, self.name_backend = self._writer()
        self.cloud: FeatureCloud | None = None
        self.cloud_header: Any = None
        self.objects: dict[int, dict[str, str]] = {}
        self.selection: list[Instance] = []
        self.selection_cloud: FeatureCloud | None = None  # the cloud `selection` indexes into
        self.attention_pub = self.create_publisher(PointCloud2, "/codediffuser/attention_cloud", LATCHED)
        self.create_subscription(
            FeatureCloudMsg, "/codediffuser/feature_cloud", self.on_cloud, FEATURE_CLOUD_QOS
        )
        if cfg.detector == "metadata":
            self.create_subscription(String, "/sim/objects", self.on_objects, LATCHED)
        self.create_service(
            Instruct, "/instruct", self.on_instruct, callback_group=MutuallyExclusiveCallbackGroup()
        )
        self.get_logger().info(
            f"/instruct ready (program writer: {cfg.llm_model or 'offline'}, detector: {cfg.detector})"
        )

    # --- backends ---------------------------------------------------------------------------------
    def _references(self) -> Any:
        if self.config.detector != "features":
            return None
        if not self.config.references_dir:
            raise ConfigError("detector 'features' needs references_dir (a `codediffuser annotate` store)")
        from codediffuser_perception.references import ReferenceStore

        return ReferenceStore.load(self.config.references_dir)

    def _predictor(self) -> Any:
        if self.config.mask_backend == "none":
            return None
        from codediffuser_perception.masks import SamMaskPredictor

        return SamMaskPredictor(self.config.sam_model)

    def _writer(self) -> tuple[Any, Any]:
        cfg = self.config
        if not cfg.llm_model:
            return OfflineWriter(), match_metadata
        from codediffuser_codegen.llm import LlmClient, LlmConfig, LlmProgramWriter, VlmNameSelector

        client = LlmClient(
            LlmConfig(
                model=cfg.llm_model,
                base_url=cfg.llm_base_url or None,
                api_key_env=cfg.llm_api_key_env or None,
                timeout_s=cfg.llm_timeout_s,
                retries=cfg.llm_retries,
                max_repairs=cfg.max_repairs,
            )
        )
        return LlmProgramWriter(client), VlmNameSelector(client)

    def _detect_backend(self) -> Any:
        if self.config.detector == "metadata":
            return metadata_detector(self.objects)
        from codediffuser_codegen.backends import feature_detector

        backend = feature_detector(self.references)
        return with_object_metadata(backend, self.objects) if self.objects else backend

    def attention(self, cloud: FeatureCloud, instances: list[Instance]) -> Attention:
        if self.predictor is None:
            return instance_attention(cloud, instances)
        from codediffuser_perception.attention import compute_attention

        return compute_attention(cloud, instances, self.predictor, self.config.attention)

    # --- callbacks --------------------------------------------------------------------------------
    def on_objects(self, msg: String) -> None:
        try:
            self.objects = {
                int(k): {str(a): str(b) for a, b in v.items()} for k, v in json.loads(msg.data).items()
            }
        except (ValueError, AttributeError) as exc:
            self.get_logger().error(f"/sim/objects is not a JSON object of metadata: {exc}")

    def on_cloud(self, msg: FeatureCloudMsg) -> None:
        try:
            cloud = cloud_from_msg(msg)
        except PerceptionError as exc:
            self.get_logger().error(f"unusable feature cloud: {exc}")
            return
        self.cloud, self.cloud_header = cloud, msg.header
        if self.selection and self.config.follow and self.selection_cloud is not None:
            try:
                selection = self.follow(self.selection_cloud, cloud)
                self.publish_attention(cloud, self.attention(cloud, selection), msg.header)
            except PerceptionError as exc:
                self.get_logger().error(f"attention not updated, the selection was lost: {exc}")
                return
            self.selection, self.selection_cloud = selection, cloud

    def follow(self, previous: FeatureCloud, cloud: FeatureCloud) -> list[Instance]:
        """The selected instances found again on `cloud` (same order)."""
        if self.config.detector == "features":
            from codediffuser_perception.tracking import track_instances

            return track_instances(self.selection, previous, cloud, self.references)
        detect = metadata_detector(self.objects)
        found = []
        for inst in self.selection:
            match = [c for c in detect(cloud, inst.category) if c.id == inst.id]
            if not match:
                raise PerceptionError(
                    f"#{inst.id} {inst.metadata.get('name', inst.category)} is not in the new cloud"
                )
            found.append(match[0])
        return found

    def on_instruct(self, request: Instruct.Request, response: Instruct.Response) -> Instruct.Response:
        cloud, header = self.cloud, self.cloud_header
        if cloud is None:
            response.success = False
            response.message = (
                "no feature cloud received on /codediffuser/feature_cloud yet: is fusion_node running?"
            )
            return response
        api = PerceptionAPI(cloud, self._detect_backend(), self.name_backend)
        result = run_instruction(request.instruction, api, self.writer, self.sandbox, self.config.max_repairs)
        response.program = result.program
        if result.success:
            try:
                attention = self.attention(cloud, result.attended)
            except PerceptionError as exc:
                result.success, result.message = False, f"no attention for the selection: {exc}"
        response.success, response.message = result.success, result.message
        if not result.success:
            self.get_logger().error(f"/instruct {request.instruction!r} failed: {result.message}")
            return response
        self.selection, self.selection_cloud = list(result.attended), cloud
        response.instance_ids = [int(i.id) for i in result.attended]
        response.instances = [instance_message(i) for i in result.attended]
        self.publish_attention(cloud, attention, header)
        self.get_logger().info(f"/instruct {request.instruction!r}: {result.message}")
        return response

    def publish_attention(self, cloud: FeatureCloud, attention: Attention, header: Any) -> None:
        """The attention cloud in the feature cloud's frame, stamped with its acquisition time."""
        msg = conv.points_to_cloud(
            cloud.points,
            cloud.colors,
            header.frame_id,
            header.stamp,
            PointCloud2(),
            attention=attention.values,
        )
        self.attention_pub.publish(msg)


def main(args: list[str] | None = None) -> None:
    """`ros2 run codediffuser_codegen codegen_node`."""
    rclpy.init(args=args)
    try:
        node = CodegenNode()
    except (ValueError, OSError) as exc:  # ConfigError, PerceptionError, LlmError, missing files
        rclpy.logging.get_logger("codegen_node").fatal(f"cannot start: {exc}")
        rclpy.try_shutdown()
        raise SystemExit(2) from exc
    spin_until_shutdown(node, MultiThreadedExecutor())
