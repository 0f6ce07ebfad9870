"""DINOv2 feature backend through `transformers` (the paper's and D3Fields' semantic features).

The model comes from `from_pretrained(path_or_id)`: an argument, else the environment variable
`CODEDIFFUSER_DINOV2` (a local directory or a hub id), else `facebook/dinov2-small`. Images are resized
(not cropped, so the patch grid covers the whole view) to a short side of `short_side_px`, rounded to a
multiple of the patch size; all views go through the model in one batch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from codediffuser_perception.features import PatchFeatureMaps
from codediffuser_perception.types import CameraView, PerceptionError

DINOV2_ENV = "CODEDIFFUSER_DINOV2"
"""Environment variable naming the DINOv2 weights (local directory or hub id)."""
DEFAULT_DINOV2 = "facebook/dinov2-small"


class Dinov2Extractor:
    """`FeatureExtractor` over a DINOv2 ViT: patch tokens → (V, D, h, w) maps.

    Args:
        model: local directory or hub id; None reads `CODEDIFFUSER_DINOV2`, else `facebook/dinov2-small`.
        device: torch device string ("cpu", "cuda", "cuda:1").
        short_side_px: input short side in pixels (rounded to the patch size); more = finer features.
    """

    def __init__(self, model: str | None = None, device: str = "cpu", short_side_px: int = 448) -> None:
        import torch
        from transformers import AutoImageProcessor, Dinov2Model

        source = model or os.environ.get(DINOV2_ENV) or DEFAULT_DINOV2
        if short_side_px <= 0:
            raise PerceptionError(f"short_side_px must be > 0, got {short_side_px}")
        self.source = source
        self.device = torch.device(device)
        self.processor = AutoImageProcessor.from_pretrained(source)
        self.model = Dinov2Model.from_pretrained(source).to(self.device).eval()
        self.patch_size = int(self.model.config.patch_size)
        self.feature_dim = int(self.model.config.hidden_size)
        self.short_side_px = short_side_px

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """Model input (h, w) in pixels for an image of (height, width): aspect kept, multiples of the patch."""
        scale = self.short_side_px / min(height, width)
        p = self.patch_size
        return max(p, round(height * scale / p) * p), max(p, round(width * scale / p) * p)

    def extract(self, views: Sequence[CameraView]) -> PatchFeatureMaps:
        import torch

        if not views:
            raise PerceptionError("no views to extract features from")
        sizes = {(v.height, v.width) for v in views}
        if len(sizes) != 1:
            raise PerceptionError(
                f"all views must share one image size for a batched forward, got {sorted(sizes)}"
            )
        H, W = sizes.pop()
        h_in, w_in = self.input_size(H, W)
        inputs = self.processor(
            images=[np.ascontiguousarray(v.rgb) for v in views],
            do_center_crop=False,
            size={"height": h_in, "width": w_in},
            return_tensors="pt",
        )
        pixels = inputs["pixel_values"].to(self.device)
        with torch.inference_mode():
            tokens = self.model(pixel_values=pixels).last_hidden_state  # (V, 1 + h*w, D)
        h, w = h_in // self.patch_size, w_in // self.patch_size
        patches = tokens[:, tokens.shape[1] - h * w :, :]  # drop CLS (and register tokens, if any)
        maps = patches.reshape(len(views), h, w, -1).permute(0, 3, 1, 2).contiguous()  # (V, D, h, w)
        return PatchFeatureMaps(maps=maps, image_size=(H, W))
