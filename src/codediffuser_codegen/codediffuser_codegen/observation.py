"""A saved observation: what `codediffuser instruct` reads, and the synthetic stand-in benchmarks use.

File format (`.npz`, written by `save_observation`, read by `load_observation`):

| key | shape / type | meaning |
|---|---|---|
| `points` | (M, 3) float32 | fused cloud, world frame, metres |
| `colors` | (M, 3) uint8 | point colours |
| `features` | (M, D) float32, optional | per-point features |
| `object_ids` | (M,) int32, optional | simulator object id per point (metadata oracle) |
| `objects` | 0-d str (JSON) | `{"<id>": {"category": …, "name": …, "color": …}, …}` instance metadata |
| `view_names` | (V,) str | camera names |
| `view_rgb` | (V, H, W, 3) uint8 | colour images (all views share one size) |
| `view_depth` | (V, H, W) float32 | depth in metres, 0 = invalid |
| `view_K`, `view_T_world_cam` | (V, 3, 3), (V, 4, 4) float32 | intrinsics, optical-frame pose in world |
| `view_segmentation` | (V, H, W) int32, optional | per-pixel object ids |

Views may be absent (V = 0): the offline path needs only the cloud and the metadata, the VLM path
needs the views for the composite image.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from codediffuser_perception.types import CameraView, FeatureCloud, PerceptionError


@dataclass
class Observation:
    """A fused cloud with its views and the metadata of the objects its points belong to.

    Attributes:
        cloud: the `FeatureCloud` (views inside).
        objects: object id → metadata (`category`, `name`, attributes) for the metadata oracle backends;
            empty for a real-robot observation.
    """

    cloud: FeatureCloud
    objects: dict[int, dict[str, str]] = field(default_factory=dict)


class ObjectLike(Protocol):
    """What `observation_from_objects` reads: `codediffuser_sim.instructions.SceneObject` fits."""

    id: int
    category: str
    name: str
    position: tuple[float, float, float]
    attributes: Mapping[str, str]


def save_observation(path: str | Path, obs: Observation) -> None:
    """Write `obs` in the format of this module's docstring (numpy `savez_compressed`)."""
    cloud = obs.cloud
    arrays: dict[str, np.ndarray] = {
        "points": cloud.points,
        "colors": cloud.colors,
        "objects": np.array(json.dumps({str(k): v for k, v in obs.objects.items()})),
        "view_names": np.array([v.name for v in cloud.views], dtype=str),
    }
    if cloud.features is not None:
        arrays["features"] = cloud.features
    if cloud.object_ids is not None:
        arrays["object_ids"] = cloud.object_ids.astype(np.int32)
    if cloud.views:
        arrays["view_rgb"] = np.stack([v.rgb for v in cloud.views])
        arrays["view_depth"] = np.stack([v.depth for v in cloud.views])
        arrays["view_K"] = np.stack([v.K for v in cloud.views])
        arrays["view_T_world_cam"] = np.stack([v.T_world_cam for v in cloud.views])
        if all(v.segmentation is not None for v in cloud.views):
            arrays["view_segmentation"] = np.stack([v.segmentation for v in cloud.views]).astype(np.int32)
    np.savez_compressed(path, **arrays)


def load_observation(path: str | Path) -> Observation:
    """Read a file written by `save_observation`.

    Raises:
        PerceptionError: missing file, missing keys or inconsistent shapes (the message names them).
    """
    path = Path(path)
    if not path.is_file():
        raise PerceptionError(f"observation file {path} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PerceptionError(f"{path} is not an observation .npz: {exc}") from exc
    with data:
        missing = {"points", "colors", "objects", "view_names"} - set(data.files)
        if missing:
            raise PerceptionError(f"{path}: missing arrays {sorted(missing)}")
        names = [str(n) for n in data["view_names"]]
        seg = data["view_segmentation"] if "view_segmentation" in data.files else None
        views = [
            CameraView(
                name=name,
                rgb=data["view_rgb"][i],
                depth=data["view_depth"][i],
                K=data["view_K"][i],
                T_world_cam=data["view_T_world_cam"][i],
                segmentation=None if seg is None else seg[i],
            )
            for i, name in enumerate(names)
        ]
        cloud = FeatureCloud(
            points=data["points"],
            colors=data["colors"],
            features=data["features"] if "features" in data.files else None,
            views=views,
            object_ids=data["object_ids"] if "object_ids" in data.files else None,
        )
        try:
            objects = {
                int(k): {str(a): str(b) for a, b in v.items()}
                for k, v in json.loads(str(data["objects"])).items()
            }
        except (ValueError, AttributeError) as exc:
            raise PerceptionError(f"{path}: `objects` is not a JSON object of metadata: {exc}") from exc
    return Observation(cloud=cloud, objects=objects)


def observation_from_objects(
    objects: Sequence[ObjectLike],
    rng: np.random.Generator,
    points_per_object: int = 16,
    half_extent_m: float = 0.01,
    centre_noise_m: float = 0.0,
) -> Observation:
    """A point-sampled stand-in for a rendered scene: a small box of points around each object.

    Used where the grounding of instructions is measured without rendering (benchmarks/grounding.py,
    tests) and to write example observation files. Colours come from the `color` attribute. Each box is
    shifted by Gaussian noise of `centre_noise_m` (per axis) to imitate centroid errors of perception.
    """
    palette = {
        "red": (220, 30, 30),
        "green": (30, 180, 60),
        "blue": (40, 70, 220),
        "yellow": (230, 210, 40),
        "orange": (240, 140, 20),
        "purple": (140, 50, 180),
        "white": (240, 240, 240),
        "black": (20, 20, 20),
    }
    points, colors, ids, meta = [], [], [], {}
    for obj in objects:
        centre = np.asarray(obj.position, dtype=np.float32) + rng.normal(0.0, centre_noise_m, 3).astype(
            np.float32
        )
        points.append(
            centre + rng.uniform(-half_extent_m, half_extent_m, (points_per_object, 3)).astype(np.float32)
        )
        colors.append(
            np.tile(palette.get(obj.attributes.get("color", ""), (128, 128, 128)), (points_per_object, 1))
        )
        ids.append(np.full(points_per_object, obj.id, dtype=np.int32))
        meta[int(obj.id)] = {"category": obj.category, "name": obj.name, **dict(obj.attributes)}
    cloud = FeatureCloud(
        points=np.concatenate(points),
        colors=np.concatenate(colors).astype(np.uint8),
        object_ids=np.concatenate(ids),
    )
    return Observation(cloud=cloud, objects=meta)
