"""Shared fixtures of the perception tests: one synthetic scene rendered once per session."""

from __future__ import annotations

import pytest
import torch

from codediffuser_perception.fusion import FusionConfig, fuse_views
from codediffuser_perception.synthetic import SyntheticScene, four_view_rig, two_category_scene
from codediffuser_perception.types import CameraView, FeatureCloud


@pytest.fixture(scope="session")
def scene() -> SyntheticScene:
    return two_category_scene()


@pytest.fixture(scope="session")
def views(scene: SyntheticScene) -> list[CameraView]:
    return four_view_rig(scene)


@pytest.fixture(scope="session")
def cloud(views: list[CameraView]) -> FeatureCloud:
    return fuse_views(views, FusionConfig(voxel_size_m=0.004))


@pytest.fixture(scope="session")
def tiny_dinov2(tmp_path_factory) -> str:
    """A randomly initialised 1-layer DINOv2 + its image processor, saved like a hub checkpoint."""
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("dinov2")
    config = Dinov2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=56
    )
    Dinov2Model(config).save_pretrained(path)
    BitImageProcessor(  # facebook/dinov2-small's preprocessing: the extractor must override resize + crop
        size={"shortest_edge": 256},
        crop_size={"height": 224, "width": 224},
        do_center_crop=True,
        resample=3,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_sam(tmp_path_factory) -> str:
    """A randomly initialised tiny SAM + processor saved like a hub checkpoint (128 px input)."""
    from transformers import SamConfig, SamImageProcessor, SamModel, SamProcessor

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sam")
    vision = {
        "hidden_size": 32,
        "output_channels": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": 128,
        "window_size": 4,
        "global_attn_indexes": [1],
        "mlp_dim": 64,
        "num_pos_feats": 8,
    }
    prompt = {"hidden_size": 16, "image_size": 128, "mask_input_channels": 4}
    decoder = {"hidden_size": 16, "mlp_dim": 32, "num_attention_heads": 2, "iou_head_hidden_dim": 16}
    config = SamConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)
    SamModel(config).save_pretrained(path)
    processor = SamImageProcessor(size={"longest_edge": 128}, pad_size={"height": 128, "width": 128})
    SamProcessor(image_processor=processor).save_pretrained(path)
    return str(path)
