"""`codediffuser replay BAG --instruction TEXT`: a camera bag through fusion → instruct → attention, as pictures.

Feeds a ROS 2 bag of the four cameras (read with `rosbags`, no ROS needed) through the same steps as the
node graph, offline: the images of each instant are grouped like `fusion_node` does
(`node_sync.ApproximateSync` over colour, depth and, when recorded, segmentation), fused with the
`fusion_node.fusion` settings of the parameter file (config/nodes.yaml; each also a flag, e.g.
`--fusion.voxel-size-m 0.01`), the instruction runs on the
first fused cloud (`codediffuser_codegen.pipeline.run_instruction`, offline generator), and on every
later cloud the selected instances are found again, as `codegen_node` follows them. Each instant
becomes `attention_NNNN.png` in `--out` (the cloud seen from above and from the front, coloured by
attention).

Topics read: `/cameras/<cam>/color/image_raw`, `.../aligned_depth_to_color/image_raw`,
`.../color/camera_info`, optional `.../segmentation/image_raw` (simulator ids); camera poses from
`/tf_static` when recorded, else from `--rig` (config/cameras.yaml). `detect` uses the simulator
metadata when the bag has `/sim/objects` (a bag recorded from sim.launch.py), else the reference
features of `--references` (the clouds then get DINOv2 features: `fusion_node.feature_backend: dinov2`).
The attention is the mask-free default (the selected instances' own points,
`pipeline.instance_attention`).

Exit status: 0 when pictures were written, 1 when the instruction or the bag data failed (reason
printed), 2 for unusable arguments or files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codediffuser_perception.node_sync import ApproximateSync
from codediffuser_perception.ros_params import (
    ConfigError,
    add_config_arguments,
    config_from_arguments,
    load_node_params,
)
from codediffuser_perception.types import CameraView, FeatureCloud, Instance, PerceptionError

STREAMS = {
    "color": "color/image_raw",
    "depth": "aligned_depth_to_color/image_raw",
    "segmentation": "segmentation/image_raw",
    "info": "color/camera_info",
}
DEFAULT_PARAMS = Path(__file__).resolve().parents[3] / "config" / "nodes.yaml"
FUSION_PREFIX = "fusion."
"""fusion_node's parameters of `fusion_views` (a nested `FusionConfig`)."""


class ReplayError(ValueError):
    """A bag or a configuration replay cannot use; the message names the topic, file or key."""


def build_parser() -> argparse.ArgumentParser:
    """Options of `codediffuser replay`."""
    parser = argparse.ArgumentParser(prog="codediffuser replay", description=__doc__.splitlines()[0])
    parser.add_argument("bag", type=Path, help="rosbag2 folder with the camera topics")
    parser.add_argument(
        "--instruction", required=True, help='e.g. "pack the red battery into the front left slot"'
    )
    parser.add_argument("--out", type=Path, default=Path("replay_out"), help="folder for the pictures")
    parser.add_argument(
        "--params", type=Path, default=DEFAULT_PARAMS, help="ROS 2 parameter file (nodes.yaml)"
    )
    parser.add_argument("--rig", type=Path, help="camera rig file for bags without /tf_static")
    parser.add_argument("--references", type=Path, help="reference store for bags without /sim/objects")
    parser.add_argument("--slop-s", type=float, default=0.05, help="largest stamp spread of one instant")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many instants (0 = all)")
    from codediffuser_perception.fusion import FusionConfig

    # fusion_node's `fusion.*` parameters as flags, on top of the parameter file: one schema
    add_config_arguments(parser, FusionConfig, prefix=FUSION_PREFIX)
    return parser


def _fusion_config(args: argparse.Namespace) -> Any:
    from codediffuser_perception.fusion import FusionConfig

    values = load_node_params(args.params, "fusion_node")
    nested = {k: v for k, v in values.items() if k.startswith(FUSION_PREFIX)}
    config = config_from_arguments(FusionConfig, args, base=nested, prefix=FUSION_PREFIX)
    return config, values.get("feature_backend", "none"), values


class BagFrames:
    """Reads the bag once, yielding the synchronised instants as `CameraView` lists."""

    def __init__(self, bag: Any, slop_s: float, rig: Any = None) -> None:
        from codediffuser.import_bag import ImportBagError

        topics = bag.topics
        self.cameras = sorted(
            {t.split("/")[2] for t in topics if t.startswith("/cameras/") and t.endswith(STREAMS["color"])}
        )
        if not self.cameras:
            raise ImportBagError(
                f"{bag.path}: no /cameras/<name>/{STREAMS['color']} topic (topics: {sorted(topics)})"
            )
        kinds = ["color", "depth"] + (
            ["segmentation"]
            if all(f"/cameras/{c}/{STREAMS['segmentation']}" in topics for c in self.cameras)
            else []
        )
        missing = [
            f"/cameras/{c}/{STREAMS[k]}"
            for c in self.cameras
            for k in (*kinds, "info")
            if f"/cameras/{c}/{STREAMS[k]}" not in topics
        ]
        if missing:
            raise ImportBagError(f"{bag.path}: missing topics {missing}")
        self.bag, self.kinds, self.rig = bag, kinds, rig
        self.sync = ApproximateSync([f"{c}/{k}" for c in self.cameras for k in kinds], slop_s)
        self.infos: dict[str, Any] = {}
        self.tf: dict[str, Any] = {}
        self.objects: dict[int, dict[str, str]] = {}
        self.topics = [f"/cameras/{c}/{STREAMS[k]}" for c in self.cameras for k in (*kinds, "info")]
        self.topics += [t for t in ("/tf_static", "/sim/objects") if t in topics]

    def __iter__(self):
        from codediffuser_perception import ros_conversions as conv

        by_topic = {f"/cameras/{c}/{STREAMS[k]}": (c, k) for c in self.cameras for k in (*self.kinds, "info")}
        for topic, _, _, msg in self.bag.messages(self.topics):
            if topic == "/tf_static":
                self.tf.update({t.child_frame_id.lstrip("/"): t for t in msg.transforms})
            elif topic == "/sim/objects":
                self.objects = {
                    int(k): {str(a): str(b) for a, b in v.items()} for k, v in json.loads(msg.data).items()
                }
            elif by_topic[topic][1] == "info":
                self.infos[by_topic[topic][0]] = msg
            else:
                cam, kind = by_topic[topic]
                group = self.sync.add(f"{cam}/{kind}", conv.stamp_to_seconds(msg.header.stamp), msg)
                if group is not None:
                    yield [self._view(cam, group) for cam in self.cameras]

    def _view(self, cam: str, group: dict[str, Any]) -> CameraView:
        from codediffuser_perception import ros_conversions as conv

        if cam not in self.infos:
            raise PerceptionError(f"{cam}: no camera_info recorded before its first image")
        frame = f"{cam}_color_optical_frame"
        if frame in self.tf:
            T = conv.lookup_transform(self.tf.values(), "world", frame)
        elif self.rig is not None:
            T = self.rig.camera(cam).T_world_cam
        else:
            raise PerceptionError(f"{cam}: the bag has no TF world → {frame}; give --rig config/cameras.yaml")
        color, seg = group[f"{cam}/color"], group.get(f"{cam}/segmentation")
        return CameraView(
            name=cam,
            rgb=conv.image_to_rgb(color),
            depth=conv.image_to_depth_m(group[f"{cam}/depth"]),
            K=conv.camera_info_to_K(self.infos[cam]),
            T_world_cam=T,
            stamp=conv.stamp_to_seconds(color.header.stamp),
            segmentation=None if seg is None else conv.image_to_labels(seg),
        )


def follow(
    selection: list[Instance], previous: FeatureCloud, cloud: FeatureCloud, objects: dict, references: Any
) -> list[Instance]:
    """The selected instances on a new cloud: same simulator ids (metadata), else position + feature tracking."""
    from codediffuser_codegen.oracle import metadata_detector

    if references is not None:
        from codediffuser_perception.tracking import track_instances

        return track_instances(selection, previous, cloud, references)
    detect = metadata_detector(objects)
    found = []
    for inst in selection:
        match = [c for c in detect(cloud, inst.category) if c.id == inst.id]
        if not match:
            raise PerceptionError(
                f"#{inst.id} {inst.metadata.get('name', inst.category)} is not in this cloud"
            )
        found.append(match[0])
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `codediffuser replay` (see the module docstring)."""
    from codediffuser.import_bag import Bag, ImportBagError
    from codediffuser_codegen.api import PerceptionAPI
    from codediffuser_codegen.instruct import report, save_attention_png
    from codediffuser_codegen.oracle import match_metadata, metadata_detector
    from codediffuser_codegen.pipeline import OfflineWriter, instance_attention, run_instruction
    from codediffuser_codegen.sandbox import Sandbox
    from codediffuser_perception.fusion import fuse_views

    args = build_parser().parse_args(argv)
    try:
        fusion_config, feature_backend, fusion_values = _fusion_config(args)
        rig = None
        if args.rig is not None:
            from codediffuser.calibration_config import load_cameras_config

            rig = load_cameras_config(args.rig)
        references, extractor = None, None
        if args.references is not None:  # the feature detector: it needs per-point DINOv2 features
            from codediffuser_perception.dinov2 import Dinov2Extractor
            from codediffuser_perception.references import ReferenceStore

            if feature_backend != "dinov2":
                raise ReplayError(f"--references needs fusion_node.feature_backend: dinov2 in {args.params}")
            references = ReferenceStore.load(args.references)
            extractor = Dinov2Extractor(
                fusion_values.get("dinov2_model"), device=fusion_values.get("device", "cpu")
            )
    except (ConfigError, PerceptionError, ValueError, OSError) as exc:
        print(f"codediffuser replay: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    selection: list[Instance] = []
    previous: FeatureCloud | None = None
    try:
        with Bag(args.bag) as bag:
            frames = BagFrames(bag, args.slop_s, rig)
            for index, views in enumerate(frames):
                if args.max_frames and index >= args.max_frames:
                    break
                cloud = fuse_views(views, fusion_config)
                if extractor is not None:
                    from codediffuser_perception.features import fuse_features

                    cloud = fuse_features(cloud, extractor)
                if previous is None:
                    if frames.objects:
                        detector = metadata_detector(frames.objects)
                    elif references is not None:
                        from codediffuser_codegen.backends import feature_detector

                        detector = feature_detector(references)
                    else:
                        raise ReplayError(
                            "the bag has no /sim/objects: give --references (and DINOv2 features)"
                        )
                    api = PerceptionAPI(cloud, detector, match_metadata)
                    result = run_instruction(args.instruction, api, OfflineWriter(), Sandbox())
                    report(result)
                    if not result.success:
                        return 1
                    selection = list(result.attended)
                else:
                    selection = follow(selection, previous, cloud, frames.objects, references)
                previous = cloud
                path = args.out / f"attention_{index:04d}.png"
                save_attention_png(path, cloud, instance_attention(cloud, selection), title=args.instruction)
                written.append(path)
    except (ImportBagError, PerceptionError, ReplayError) as exc:
        print(f"codediffuser replay: {exc}", file=sys.stderr)
        return 1 if written or isinstance(exc, PerceptionError) else 2
    if not written:
        print(f"codediffuser replay: {args.bag} holds no complete set of camera images", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} pictures to {args.out}")
    return 0
