"""Standing an upright object into a slot with a floor: the part that Pack Battery and Stow Books share.

The object stands on its base (its frame's z axis up, origin at its centre, `half_height_m` above the
base); the slot is a static actor whose floor, `floor_m` thick, lies on the table top (z = 0). The expert
grasps the object from above, `grasp_below_top_m` below its top, and opens `release_gap_m` above the
slot floor, so the object keeps its height relative to the fingers from the grasp to the release.
"""

from __future__ import annotations

import numpy as np

from codediffuser_sim.expert import PickPlace

UPRIGHT_COS = float(np.cos(np.radians(20.0)))
"""An object counts as upright when its z axis is within 20° of the world z axis."""
RESTING_TOLERANCE_M = 0.01
"""How far above resting on the slot floor an object's centre may be and still count as inside."""


def rests_upright_in_slot(T_object: np.ndarray, *, half_height_m: float, floor_m: float) -> bool:
    """Whether the object (world pose `T_object`, (4, 4)) is upright and down on the slot floor.

    Only the height and tilt; each task checks the horizontal distance to the slot's centre itself.
    """
    return bool(
        T_object[2, 2] > UPRIGHT_COS and T_object[2, 3] < floor_m + half_height_m + RESTING_TOLERANCE_M
    )


def top_grasp_into_slot(
    object_xyz: np.ndarray,
    slot_xyz: np.ndarray,
    *,
    half_height_m: float,
    floor_m: float,
    grasp_below_top_m: float,
    release_gap_m: float,
    **motion: object,
) -> PickPlace:
    """Grasp the object near its top, release it `release_gap_m` above the slot floor.

    Args:
        object_xyz, slot_xyz: (3,) world positions of the object's centre and of the slot actor.
        motion: further `PickPlace` fields (`lift_m`, `grasp_yaw`, `place_yaw`, …).
    """
    top_to_grasp = half_height_m - grasp_below_top_m
    return PickPlace(
        grasp=object_xyz + np.array([0.0, 0.0, top_to_grasp]),
        place=slot_xyz + np.array([0.0, 0.0, floor_m + release_gap_m + half_height_m + top_to_grasp]),
        **motion,
    )
