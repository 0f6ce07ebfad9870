"""Workspace crop + fixed-size point sampling: the one function training and inference share.

The policy sees exactly `n_points` points. Recording (simulator, bags), training and the deployed node
all call `crop_and_sample`, so the distribution of inputs cannot drift between them.
"""

from __future__ import annotations

import numpy as np

from codediffuser_perception.types import PerceptionError


def crop_and_sample(
    points: np.ndarray,
    workspace_min: np.ndarray,
    workspace_max: np.ndarray,
    n_points: int,
    rng: np.random.Generator,
    *extras: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Keep points inside the axis-aligned workspace box, then draw exactly `n_points` of them.

    Args:
        points: (M, 3) float32 world-frame points.
        workspace_min, workspace_max: (3,) box corners in metres.
        n_points: number of points returned.
        rng: the generator that makes the draw reproducible (seeded per episode/step by the caller).
        *extras: per-point arrays (M, ...) cropped and sampled alongside (attention, colours, ids).

    Returns:
        (n_points, 3) points followed by each extra array sampled with the same indices. When fewer than
        `n_points` points survive the crop, indices are drawn with replacement (duplicated points do not
        change PointNet++'s max-pooled features).

    Raises:
        PerceptionError: no finite point lies inside the workspace, or shapes disagree.
    """
    if n_points <= 0:
        raise PerceptionError(f"n_points must be > 0, got {n_points}")
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise PerceptionError(f"points must be (M, 3), got {points.shape}")
    for i, extra in enumerate(extras):
        if len(extra) != len(points):
            raise PerceptionError(f"extra array {i} has {len(extra)} rows, points have {len(points)}")
    inside = np.all((points >= workspace_min) & (points <= workspace_max), axis=1) & np.all(
        np.isfinite(points), axis=1
    )
    candidates = np.flatnonzero(inside)
    if len(candidates) == 0:
        raise PerceptionError(
            f"no point of {len(points)} lies inside the workspace {np.round(workspace_min, 3).tolist()}"
            f" .. {np.round(workspace_max, 3).tolist()}: check the camera calibration and the crop box"
        )
    chosen = rng.choice(candidates, size=n_points, replace=len(candidates) < n_points)
    chosen.sort()
    return (points[chosen], *(np.asarray(extra)[chosen] for extra in extras))
