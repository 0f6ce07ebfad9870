"""The composite image of `sel_name`: every view with the candidates' numbered boxes, views tiled.

As in the paper, a VLM chooses among candidate instances by looking at the camera images with each
candidate outlined and numbered; the same number marks the same instance in every view. A candidate's
box in a view is the one the mask backend would prompt with (`codediffuser_perception.masks.
instance_prompts`: the extent of its cloud points that the view sees, depth-consistent), so an
occluded candidate gets no box there.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from codediffuser_perception.masks import instance_prompts
from codediffuser_perception.types import FeatureCloud, Instance, PerceptionError

BOX_PAD_PX = 4.0
"""Boxes are the visible points' pixel extent grown by this margin."""

BOX_COLORS = ((255, 60, 60), (60, 220, 60), (70, 130, 255), (255, 210, 0), (255, 120, 0), (200, 80, 255))
"""Outline colours, cycled by candidate number (the number is the identifier, colour only helps)."""


def composite_image(
    cloud: FeatureCloud, candidates: Sequence[Instance], tile_width: int = 480
) -> Image.Image:
    """All views, each with numbered boxes (1…K in candidate order), tiled two per row.

    Args:
        cloud: the observation; its views are drawn.
        candidates: the instances to number (their indices point into `cloud.points`).
        tile_width: each view is resized to this width (aspect kept).

    Raises:
        PerceptionError: the cloud carries no views, or no candidate is visible in any view.
    """
    if not cloud.views:
        raise PerceptionError("the composite image needs camera views; this cloud has none")
    boxes = instance_prompts(cloud, candidates, pad_px=BOX_PAD_PX, min_visible_points=1)
    if not any(b is not None for per_view in boxes for b in per_view):
        raise PerceptionError("no candidate is visible in any camera view")
    tiles = []
    for view, per_view in zip(cloud.views, boxes, strict=True):
        image = Image.fromarray(view.rgb).convert("RGB")
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default(size=max(10, view.width // 16))
        line = max(2, view.width // 240)
        for k, prompt in enumerate(per_view):
            if prompt is None:
                continue
            box = tuple(round(float(c)) for c in prompt.box)
            color = BOX_COLORS[k % len(BOX_COLORS)]
            draw.rectangle(box, outline=color, width=line)
            label = str(k + 1)
            x, y = box[0], max(0, box[1] - font.size - 4)
            text_box = draw.textbbox((x, y), label, font=font)
            draw.rectangle(text_box, fill=(0, 0, 0))
            draw.text((x, y), label, fill=color, font=font)
        draw.text((4, view.height - font.size - 6), view.name, fill=(255, 255, 255), font=font)
        height = round(view.height * tile_width / view.width)
        tiles.append(image.resize((tile_width, height), Image.Resampling.BILINEAR))
    cols = min(2, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    tile_h = max(t.height for t in tiles)
    canvas = Image.new("RGB", (cols * tile_width, rows * tile_h), (0, 0, 0))
    for i, tile in enumerate(tiles):
        canvas.paste(tile, ((i % cols) * tile_width, (i // cols) * tile_h))
    return canvas


def png_bytes(image: Image.Image) -> bytes:
    """The image encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
