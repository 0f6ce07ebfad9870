"""`codediffuser annotate`: store reference features for categories (the paper's labelling step).

From one image (or one view of a saved observation, `observation.save_views`) and, per category, a
mask image or a pixel box, compute the mean DINOv2 feature over the labelled pixels and write it to a
reference store (`references.ReferenceStore`: `<category>.npz` + `<category>.json`). Detection must
later use the same DINOv2 weights and `--short-side`.

Example (one mask, one box):
    codediffuser annotate --image table.png --label battery=mask.png --label mug=box:120,80,210,190 --out refs
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from codediffuser_perception.observation import load_views
from codediffuser_perception.references import ReferenceStore, check_category, reference_from_mask
from codediffuser_perception.types import CameraView, PerceptionError


def build_parser() -> argparse.ArgumentParser:
    """Options of `codediffuser annotate`."""
    parser = argparse.ArgumentParser(prog="codediffuser annotate", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=Path, help="an RGB image (png/jpg)")
    source.add_argument("--observation", type=Path, help="a saved observation (.npz of camera views)")
    parser.add_argument("--view", help="camera name within --observation (default: its first view)")
    parser.add_argument(
        "--label",
        action="append",
        required=True,
        metavar="CATEGORY=MASK|box:X0,Y0,X1,Y1",
        help="a category and its region: a mask image (non-zero = object) or an inclusive pixel box; repeatable",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="reference store directory (created or extended)"
    )
    parser.add_argument(
        "--model", help="DINOv2 weights: local directory or hub id (default: $CODEDIFFUSER_DINOV2)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--short-side", type=int, default=448, help="DINOv2 input short side in pixels")
    return parser


def load_view(image: Path | None, observation: Path | None, view_name: str | None) -> CameraView:
    """The labelled view. A bare image gets placeholder geometry: features depend on colour only."""
    if observation is not None:
        views = load_views(observation)
        if view_name is None:
            return views[0]
        for view in views:
            if view.name == view_name:
                return view
        raise PerceptionError(f"no view {view_name!r} in {observation}; it has {[v.name for v in views]}")
    from PIL import Image

    if not image.is_file():
        raise PerceptionError(f"image {image} does not exist")
    rgb = np.asarray(Image.open(image).convert("RGB"))
    return CameraView(
        name=image.stem,
        rgb=rgb,
        depth=np.zeros(rgb.shape[:2], np.float32),
        K=np.eye(3),
        T_world_cam=np.eye(4),
    )


def parse_label(text: str, height: int, width: int) -> tuple[str, np.ndarray]:
    """`CATEGORY=MASK_PATH` or `CATEGORY=box:X0,Y0,X1,Y1` → (category, (H, W) bool mask)."""
    category, sep, region = text.partition("=")
    if not sep or not region:
        raise PerceptionError(f"--label must be CATEGORY=MASK or CATEGORY=box:X0,Y0,X1,Y1, got {text!r}")
    check_category(category)
    if region.startswith("box:"):
        try:
            x0, y0, x1, y1 = (int(v) for v in region[4:].split(","))
        except ValueError:
            raise PerceptionError(f"box must be four integers X0,Y0,X1,Y1, got {region[4:]!r}") from None
        if not (0 <= x0 <= x1 < width and 0 <= y0 <= y1 < height):
            raise PerceptionError(f"box {x0},{y0},{x1},{y1} is not inside the {width}×{height} image")
        mask = np.zeros((height, width), bool)
        mask[y0 : y1 + 1, x0 : x1 + 1] = True
        return category, mask
    from PIL import Image

    path = Path(region)
    if not path.is_file():
        raise PerceptionError(f"mask {path} does not exist")
    mask = np.asarray(Image.open(path).convert("L")) > 0
    if mask.shape != (height, width):
        raise PerceptionError(
            f"mask {path} is {mask.shape[1]}×{mask.shape[0]}, the image is {width}×{height}"
        )
    return category, mask


def main(argv: Sequence[str] | None = None) -> int:
    """Run the labelling step; prints one line per stored category. Returns 0, or 2 on bad input."""
    args = build_parser().parse_args(argv)
    try:
        view = load_view(args.image, args.observation, args.view)
        labels = [parse_label(text, view.height, view.width) for text in args.label]
        from codediffuser_perception.dinov2 import Dinov2Extractor

        extractor = Dinov2Extractor(args.model, device=args.device, short_side_px=args.short_side)
        maps = extractor.extract([view])
        store = ReferenceStore()
        source = str(args.observation or args.image) + (f"#{view.name}" if args.observation else "")
        for category, mask in labels:
            feature = reference_from_mask(maps, 0, mask)
            store.add(
                category, feature, f"dinov2:{extractor.source}", source=source, n_pixels=int(mask.sum())
            )
        store.save(args.out)
    except PerceptionError as exc:
        print(f"codediffuser annotate: error: {exc}", file=sys.stderr)
        return 2
    for category in store:
        info = store.info[category]
        print(
            f"{category}: {info.feature_dim}-d reference from {info.n_pixels} px → {args.out / category}.npz"
        )
    return 0
