"""2D instance masks from box prompts: the step between a selected 3D instance and its 3D attention.

A selected instance is projected into every view; where enough of its points are visible, the
pixel box around them, padded by `pad_px`, prompts a mask predictor. Backends: SAM through
`transformers` (`SamMaskPredictor`, the default for real images), the official `segment-anything`
package when it is importable (`SegmentAnythingPredictor`; it needs torchvision, so not on CPU-only
installs), and the simulator's segmentation (`OracleMaskPredictor`, an oracle like the oracle features).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from codediffuser_perception.camera import pixel_lookup
from codediffuser_perception.types import CameraView, FeatureCloud, Instance, PerceptionError

SAM_ENV = "CODEDIFFUSER_SAM"
"""Environment variable naming the SAM weights for `transformers` (local directory or hub id)."""
DEFAULT_SAM = "facebook/sam-vit-base"
MASK_THRESHOLD = 0.6
"""A pixel is in the mask when SAM's sigmoid probability exceeds this."""


@dataclass
class MaskPrompt:
    """One instance's prompt in one view.

    Attributes:
        box: (4,) float64 pixel box (x0, y0, x1, y1), padded and clipped to the image.
        object_id: the simulator object id of the instance when known (read by the oracle backend only).
    """

    box: np.ndarray
    object_id: int | None = None


Prompts = list[list[MaskPrompt | None]]
"""prompts[v][k]: instance k's prompt in view v, None where it is not visible there."""


@runtime_checkable
class MaskPredictor(Protocol):
    """Box prompts → binary masks, all views and instances in one call."""

    def predict(self, views: Sequence[CameraView], prompts: Prompts) -> np.ndarray:
        """(V, K, H, W) bool masks; all False where `prompts[v][k]` is None."""
        ...


def instance_prompts(
    cloud: FeatureCloud,
    instances: Sequence[Instance],
    pad_px: float = 10.0,
    visibility_tol_m: float = 0.02,
    min_visible_points: int = 5,
) -> Prompts:
    """Project each instance's points into each view and box the visible ones.

    A point is visible in a view when its projected depth is within `visibility_tol_m` of the observed
    depth at its pixel; an instance gets a prompt in a view when at least `min_visible_points` of its
    points are visible there.
    """
    prompts: Prompts = []
    for view in cloud.views:
        row: list[MaskPrompt | None] = []
        for inst in instances:
            hit = pixel_lookup(cloud.points[inst.indices], view)
            visible = hit.depth_gap < visibility_tol_m
            if visible.sum() < min_visible_points:
                row.append(None)
                continue
            uv = hit.uv[visible]
            lo = np.maximum(uv.min(axis=0) - pad_px, 0.0)
            hi = np.minimum(uv.max(axis=0) + pad_px, [view.width - 1, view.height - 1])
            object_id = inst.metadata.get("object_id")
            row.append(MaskPrompt(np.concatenate([lo, hi]), None if object_id is None else int(object_id)))
        prompts.append(row)
    return prompts


def _check_prompts(views: Sequence[CameraView], prompts: Prompts) -> int:
    if len(prompts) != len(views):
        raise PerceptionError(f"got prompts for {len(prompts)} views, but {len(views)} views")
    if len({(v.height, v.width) for v in views}) > 1:
        raise PerceptionError("all views must share one image size to stack their masks")
    counts = {len(row) for row in prompts}
    if len(counts) > 1:
        raise PerceptionError("every view needs one prompt slot per instance (None where not visible)")
    return counts.pop() if counts else 0


class OracleMaskPredictor:
    """Masks straight from the simulator's segmentation (an ORACLE; sim only, DESIGN.md §5).

    The mask of a prompt is the set of pixels carrying its `object_id`; it needs segmentation on every
    view and an `object_id` on every prompt (detect sets it when the cloud has simulator ids).
    """

    def predict(self, views: Sequence[CameraView], prompts: Prompts) -> np.ndarray:
        k = _check_prompts(views, prompts)
        if not views:
            return np.zeros((0, k, 0, 0), bool)
        out = np.zeros((len(views), k, views[0].height, views[0].width), bool)
        for v, (view, row) in enumerate(zip(views, prompts, strict=True)):
            for i, prompt in enumerate(row):
                if prompt is None:
                    continue
                if view.segmentation is None or prompt.object_id is None:
                    raise PerceptionError(
                        f"{view.name}: the oracle mask backend needs segmentation and the instance's object_id"
                    )
                out[v, i] = view.segmentation == prompt.object_id
        return out


class SamMaskPredictor:
    """SAM through `transformers` (`SamModel` + `SamProcessor`): one batched forward for all prompts.

    Args:
        model: local directory or hub id; None reads `CODEDIFFUSER_SAM`, else `facebook/sam-vit-base`.
        device: torch device string.
        mask_threshold: sigmoid probability above which a pixel is in the mask.
    """

    def __init__(
        self, model: str | None = None, device: str = "cpu", mask_threshold: float = MASK_THRESHOLD
    ) -> None:
        import torch
        from transformers import SamModel, SamProcessor

        if not 0 < mask_threshold < 1:
            raise PerceptionError(f"mask_threshold must be in (0, 1), got {mask_threshold}")
        self.source = model or os.environ.get(SAM_ENV) or DEFAULT_SAM
        self.device = torch.device(device)
        self.processor = SamProcessor.from_pretrained(self.source)
        self.model = SamModel.from_pretrained(self.source).to(self.device).eval()
        self.mask_threshold = mask_threshold

    def predict(self, views: Sequence[CameraView], prompts: Prompts) -> np.ndarray:
        import torch

        k = _check_prompts(views, prompts)
        if not views:
            return np.zeros((0, k, 0, 0), bool)
        out = np.zeros((len(views), k, views[0].height, views[0].width), bool)
        used = [v for v, row in enumerate(prompts) if any(p is not None for p in row)]
        if not used:
            return out
        # SAM batches need the same number of boxes per image: absent prompts get a whole-image box
        # whose mask is discarded below.
        boxes = [
            [
                (
                    p.box if p is not None else np.array([0, 0, views[v].width - 1, views[v].height - 1])
                ).tolist()
                for p in prompts[v]
            ]
            for v in used
        ]
        inputs = self.processor(images=[views[v].rgb for v in used], input_boxes=boxes, return_tensors="pt")
        with torch.inference_mode():
            result = self.model(
                pixel_values=inputs["pixel_values"].to(self.device),
                input_boxes=inputs["input_boxes"].to(self.device, torch.float32),
                multimask_output=False,
            )
        logits = self.processor.image_processor.post_process_masks(
            result.pred_masks.float().cpu(),
            inputs["original_sizes"],
            inputs["reshaped_input_sizes"],
            binarize=False,
        )  # per used view: (K, 1, H, W)
        for j, v in enumerate(used):
            probs = torch.sigmoid(logits[j][:, 0]).numpy()
            keep = np.array([p is not None for p in prompts[v]])
            out[v] = (probs > self.mask_threshold) & keep[:, None, None]
        return out


class SegmentAnythingPredictor:
    """The official `segment-anything` package as a backend (only where it imports: it needs torchvision).

    Args:
        checkpoint: path of an official SAM checkpoint (`sam_vit_b_01ec64.pth`, ...).
        model_type: its registry key ("vit_b", "vit_l", "vit_h").
        device: torch device string.
        mask_threshold: sigmoid probability above which a pixel is in the mask.
    """

    def __init__(
        self,
        checkpoint: str,
        model_type: str = "vit_b",
        device: str = "cpu",
        mask_threshold: float = MASK_THRESHOLD,
    ) -> None:
        try:
            from segment_anything import SamPredictor, sam_model_registry
        except ImportError as exc:
            raise PerceptionError(
                f"the segment-anything backend is not importable here ({exc}); it needs torchvision. "
                "Use SamMaskPredictor (transformers) instead."
            ) from exc
        if model_type not in sam_model_registry:
            raise PerceptionError(
                f"unknown SAM model_type {model_type!r}; known: {sorted(sam_model_registry)}"
            )
        self.predictor = SamPredictor(sam_model_registry[model_type](checkpoint=checkpoint).to(device))
        self.mask_threshold = mask_threshold

    def predict(self, views: Sequence[CameraView], prompts: Prompts) -> np.ndarray:
        k = _check_prompts(views, prompts)
        if not views:
            return np.zeros((0, k, 0, 0), bool)
        out = np.zeros((len(views), k, views[0].height, views[0].width), bool)
        for v, (view, row) in enumerate(zip(views, prompts, strict=True)):
            if all(p is None for p in row):
                continue
            self.predictor.set_image(view.rgb)  # one image embedding per view
            for i, prompt in enumerate(row):
                if prompt is not None:
                    logits, _, _ = self.predictor.predict(
                        box=prompt.box, multimask_output=False, return_logits=True
                    )
                    out[v, i] = 1.0 / (1.0 + np.exp(-logits[0])) > self.mask_threshold
        return out
