"""A saved multi-view observation: the camera views of one instant in one `.npz` file.

Written by tools that capture a scene (simulator, bag import) and read by offline commands such as
`codediffuser annotate`. Layout: `names` (V,) str, then per view `<name>/rgb`, `<name>/depth`,
`<name>/K`, `<name>/T_world_cam`, `<name>/stamp` and, when present, `<name>/segmentation`
(the `CameraView` fields, same units and frames).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from codediffuser_perception.types import CameraView, PerceptionError


def save_views(path: str | Path, views: Sequence[CameraView]) -> None:
    """Write `views` to the `.npz` file `path` (compressed)."""
    arrays: dict[str, np.ndarray] = {"names": np.array([v.name for v in views])}
    for v in views:
        arrays.update(
            {
                f"{v.name}/rgb": v.rgb,
                f"{v.name}/depth": v.depth,
                f"{v.name}/K": v.K,
                f"{v.name}/T_world_cam": v.T_world_cam,
                f"{v.name}/stamp": np.float64(v.stamp),
            }
        )
        if v.segmentation is not None:
            arrays[f"{v.name}/segmentation"] = v.segmentation
    np.savez_compressed(path, **arrays)


def load_views(path: str | Path) -> list[CameraView]:
    """Read the views saved by `save_views`, in their saved order."""
    path = Path(path)
    if not path.is_file():
        raise PerceptionError(f"observation file {path} does not exist")
    with np.load(path) as data:
        if "names" not in data:
            raise PerceptionError(f"{path} is not a saved observation (no 'names' array)")
        views = []
        for name in data["names"].tolist():
            seg_key = f"{name}/segmentation"
            views.append(
                CameraView(
                    name=name,
                    rgb=data[f"{name}/rgb"],
                    depth=data[f"{name}/depth"],
                    K=data[f"{name}/K"],
                    T_world_cam=data[f"{name}/T_world_cam"],
                    stamp=float(data[f"{name}/stamp"]),
                    segmentation=data.get(seg_key, None),
                )
            )
    return views
