"""Perception timing on four 640×480 views: feature extraction vs fusion + detect, attention vs SAM.

Headline (last line): (point fusion + D3Fields feature fusion + detect) / DINOv2 extraction; the design target is
≤ 0.5, i.e. the geometry around the network costs at most half of the network itself.
Second ratio: the whole attention step (projection, prompts, SAM, lifting masks, dilation) / the SAM
forward alone.

Models: `--models base` (default) builds RANDOMLY INITIALISED models with the released architectures
(DINOv2 ViT-S/14, SAM ViT-B): the timings are those of the real networks, the outputs are not (the
detection count is meaningless). `--models tiny` uses 1-2 layer models (timing structure only).
`--dinov2 PATH --sam PATH` time real weights instead. The scene is the synthetic ray-cast table of
`codediffuser_perception.synthetic`.

    python benchmarks/perception.py [--models base|tiny] [--repeats 3] [--warmup 1] [--device cpu] [--no-sam] [--json]

On a 2-core CPU one SAM ViT-B forward over four views takes minutes: use `--repeats 1 --warmup 0`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from codediffuser_perception.attention import compute_attention
from codediffuser_perception.detect import detect
from codediffuser_perception.dinov2 import Dinov2Extractor
from codediffuser_perception.features import fuse_features
from codediffuser_perception.fusion import FusionConfig, fuse_views
from codediffuser_perception.masks import SamMaskPredictor, instance_prompts
from codediffuser_perception.references import reference_from_mask
from codediffuser_perception.synthetic import four_view_rig, two_category_scene
from codediffuser_perception.types import Instance


def save_random_models(directory: Path, size: str) -> tuple[str, str]:
    """Randomly initialised DINOv2 and SAM (+ processors) saved under `directory`; returns their paths."""
    from transformers import (
        BitImageProcessor,
        Dinov2Config,
        Dinov2Model,
        SamConfig,
        SamImageProcessor,
        SamModel,
        SamProcessor,
    )

    torch.manual_seed(0)
    if size == "base":  # facebook/dinov2-small and facebook/sam-vit-base architectures
        dino = Dinov2Config(
            hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536
        )
        sam, sam_px = SamConfig(), 1024
    else:
        dino = Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
        vision = {"hidden_size": 32, "output_channels": 16, "num_hidden_layers": 2, "num_attention_heads": 2}
        vision |= {"image_size": 256, "window_size": 4, "global_attn_indexes": [1], "mlp_dim": 64}
        sam = SamConfig(
            vision_config=vision | {"num_pos_feats": 8},
            prompt_encoder_config={"hidden_size": 16, "image_size": 256, "mask_input_channels": 4},
            mask_decoder_config={
                "hidden_size": 16,
                "mlp_dim": 32,
                "num_attention_heads": 2,
                "iou_head_hidden_dim": 16,
            },
        )
        sam_px = 256
    dino_dir, sam_dir = directory / "dinov2", directory / "sam"
    Dinov2Model(dino).save_pretrained(dino_dir)
    BitImageProcessor(
        do_center_crop=False, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]
    ).save_pretrained(dino_dir)
    SamModel(sam).save_pretrained(sam_dir)
    processor = SamImageProcessor(size={"longest_edge": sam_px}, pad_size={"height": sam_px, "width": sam_px})
    SamProcessor(image_processor=processor).save_pretrained(sam_dir)
    return str(dino_dir), str(sam_dir)


def timed(fn: Callable[[], object], repeats: int, warmup: int) -> tuple[float, object]:
    """Median wall time in seconds over `repeats` calls after `warmup` untimed calls, and the last result."""
    for _ in range(warmup):
        fn()
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    """Run the benchmark and print the results (JSON with --json), headline ratio last."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", choices=("base", "tiny"), default="base")
    parser.add_argument("--dinov2", help="real DINOv2 weights (directory or id) instead of random ones")
    parser.add_argument("--sam", help="real SAM weights (directory or id) instead of random ones")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed calls first (0 for base models on a CPU)"
    )
    parser.add_argument("--no-sam", action="store_true", help="skip the SAM / attention timings")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    scene = two_category_scene()
    views = four_view_rig(scene, width=640, height=480)
    with tempfile.TemporaryDirectory() as tmp:
        dino_path, sam_path = save_random_models(Path(tmp), args.models)
        extractor = Dinov2Extractor(args.dinov2 or dino_path, device=args.device)
        predictor = None if args.no_sam else SamMaskPredictor(args.sam or sam_path, device=args.device)

    t_extract, maps = timed(lambda: extractor.extract(views), args.repeats, args.warmup)
    reference = reference_from_mask(maps, 0, views[0].segmentation == 1)  # label battery #1 in cam0
    t_points, cloud = timed(lambda: fuse_views(views, FusionConfig()), args.repeats, args.warmup)
    t_features, cloud = timed(lambda: fuse_features(cloud, maps=maps), args.repeats, args.warmup)
    t_detect, found = timed(
        lambda: detect(cloud, {"battery": reference}, "battery"), args.repeats, args.warmup
    )
    t_fuse_detect = t_points + t_features + t_detect
    results = {
        "models": f"random-init {args.models}" if not (args.dinov2 or args.sam) else "given weights",
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "views": f"{len(views)}x{views[0].width}x{views[0].height}",
        "cloud_points": len(cloud),
        "feature_dim": extractor.feature_dim,
        "instances_found": len(found),
        "feature_extraction_s": round(t_extract, 4),
        "point_fusion_s": round(t_points, 4),
        "feature_fusion_s": round(t_features, 4),
        "detect_s": round(t_detect, 4),
        "fusion_plus_detect_s": round(t_fuse_detect, 4),
    }
    if predictor is not None:
        # timed on ground-truth battery #1: random weights make detect's output arbitrary
        indices = np.flatnonzero(cloud.object_ids == 1)
        points = cloud.points[indices]
        meta = {"object_id": "1"}
        selected = [Instance(0, "battery", indices, points.mean(0), points.min(0), points.max(0), 1.0, meta)]
        prompts = instance_prompts(cloud, selected)
        t_sam, _ = timed(lambda: predictor.predict(cloud.views, prompts), args.repeats, args.warmup)
        t_attention, _ = timed(
            lambda: compute_attention(cloud, selected, predictor), args.repeats, args.warmup
        )
        results |= {
            "sam_forward_s": round(t_sam, 4),
            "attention_step_s": round(t_attention, 4),
            "attention_over_sam": round(t_attention / t_sam, 3),
        }
    results["fusion_detect_over_extraction"] = round(t_fuse_detect / t_extract, 3)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key}: {value}")
    print(
        f"fusion+detect / feature extraction = {results['fusion_detect_over_extraction']:.3f} (target <= 0.5)"
    )


if __name__ == "__main__":
    main()
