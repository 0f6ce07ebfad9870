"""Pure helpers for seeded task layouts (no SAPIEN): colours, non-overlapping positions, id allocation."""

from __future__ import annotations

import numpy as np

from codediffuser_sim.instructions import COLORS, SceneObject

COLOR_RGB: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.1, 0.1),
    "green": (0.1, 0.7, 0.2),
    "blue": (0.1, 0.25, 0.9),
    "yellow": (0.95, 0.85, 0.1),
    "orange": (1.0, 0.5, 0.05),
    "purple": (0.55, 0.15, 0.75),
    "white": (0.95, 0.95, 0.95),
    "black": (0.08, 0.08, 0.08),
}
"""Render colour of each palette name (`instructions.COLORS`)."""


class LayoutError(ValueError):
    """A layout could not be sampled (the region is too small for the requested objects)."""


def sample_colors(rng: np.random.Generator, n: int) -> list[str]:
    """`n` distinct palette colours."""
    return [str(c) for c in rng.choice(COLORS, size=n, replace=False)]


def sample_separated_xy(
    rng: np.random.Generator,
    n: int,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    min_distance_m: float,
    restarts: int = 200,
    draws_per_point: int = 50,
) -> np.ndarray:
    """(n, 2) points uniform in the box, pairwise at least `min_distance_m` apart.

    Sequential rejection sampling, restarted from scratch when an early point leaves no room for the
    later ones.

    Raises:
        LayoutError: no arrangement found after `restarts` attempts.
    """
    low, high = (x_range[0], y_range[0]), (x_range[1], y_range[1])
    for _ in range(restarts):
        points: list[np.ndarray] = []
        for _ in range(n):
            for _ in range(draws_per_point):
                p = rng.uniform(low, high)
                if all(np.linalg.norm(p - q) >= min_distance_m for q in points):
                    points.append(p)
                    break
            else:
                break
        if len(points) == n:
            return np.array(points)
    raise LayoutError(f"cannot place {n} objects {min_distance_m} m apart in x {x_range}, y {y_range}")


def sample_colored_objects(
    rng: np.random.Generator,
    category: str,
    n: int,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    min_distance_m: float,
    z_m: float,
) -> list[SceneObject]:
    """`n` objects of one category in distinct palette colours, ids 1…n, named "<colour> <category>".

    Colours are drawn before positions (`sample_colors`, then `sample_separated_xy`), so a task's layout
    depends on its seed alone. Each object stands at height `z_m` (its centre above the table top).
    """
    colors = sample_colors(rng, n)
    xy = sample_separated_xy(rng, n, x_range, y_range, min_distance_m=min_distance_m)
    return [
        SceneObject(
            id=i + 1,
            category=category,
            name=f"{color} {category}",
            position=(float(x), float(y), z_m),
            attributes={"color": color},
        )
        for i, (color, (x, y)) in enumerate(zip(colors, xy, strict=True))
    ]
