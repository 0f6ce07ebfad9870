"""Shared fixtures of the perception tests: one synthetic scene rendered once per session."""

from __future__ import annotations

import pytest

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
