"""Pack Battery: put a battery upright into a slot of a 2 × 6 tray.

Layout (world frame, metres): the tray lies at the back of the table (y ≈ 0.1), slots 4.5 cm apart,
columns numbered 1…6 from the left (−x), rows "front" (smaller y) and "back"; 2–4 batteries of distinct
colours stand upright in front of it. Rows are 6.5 cm apart. Success (issue #10): a valid battery's centre is within 3 cm (xy) of
a valid slot's centre, it is upright (within 20°) and it rests inside the slot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sapien

from codediffuser_perception.geometry import make_pose
from codediffuser_sim.env import Primitive, TaskEnv, register_task
from codediffuser_sim.expert import PickPlace
from codediffuser_sim.instructions import SceneObject
from codediffuser_sim.layout import COLOR_RGB, sample_colored_objects
from codediffuser_sim.tasks.slot_insertion import rests_upright_in_slot, top_grasp_into_slot

N_COLUMNS = 6
ROWS = ("front", "back")
SLOT_PITCH_M = 0.045
ROW_PITCH_M = 0.065
"""Rows sit further apart than columns: the instruction contract needs 6 cm between rows to name one."""
SLOT_WALL_M = 0.004
SLOT_WALL_HEIGHT_M = 0.018
SLOT_FLOOR_M = 0.004
TRAY_COLOR = (0.3, 0.3, 0.32)
BATTERY_RADIUS_M = 0.012
BATTERY_HALF_LENGTH_M = 0.025
SUCCESS_XY_M = 0.03
GRASP_BELOW_TOP_M = 0.012
"""The fingers' centre closes this far below the battery top."""
RELEASE_GAP_M = 0.006
"""The battery is released this far above the slot floor."""

_Z_UP_FROM_X = np.array(
    [[0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)
"""SAPIEN cylinders run along x; this pose turns them upright (x → z)."""


def sample_layout(seed: int) -> list[SceneObject]:
    """Seeded Pack Battery layout: 2–4 batteries (ids 1…n) then the 12 slots (ids n+1…)."""
    rng = np.random.default_rng(seed)
    tray_x = rng.uniform(-0.02, 0.02)
    tray_y = rng.uniform(0.09, 0.12)
    n = int(rng.integers(2, 5))
    objects = sample_colored_objects(
        rng, "battery", n, (-0.15, 0.15), (-0.17, -0.04), min_distance_m=0.07, z_m=BATTERY_HALF_LENGTH_M
    )
    for r, row in enumerate(ROWS):
        for c in range(N_COLUMNS):
            objects.append(
                SceneObject(
                    id=len(objects) + 1,
                    category="slot",
                    name=f"slot {row}-{c + 1}",
                    position=(
                        tray_x + (c - (N_COLUMNS - 1) / 2) * SLOT_PITCH_M,
                        tray_y + (r - 0.5) * ROW_PITCH_M,
                        SLOT_WALL_HEIGHT_M / 2,
                    ),
                    attributes={"row": row, "column": str(c + 1), "occupied": "false"},
                )
            )
    return objects


def _slot_primitives() -> list[Primitive]:
    """Floor and four walls of one slot cavity, in the slot frame (origin at the floor centre)."""
    half = SLOT_PITCH_M / 2
    wall_z = SLOT_WALL_HEIGHT_M / 2
    prims = [Primitive("box", (half, half, SLOT_FLOOR_M / 2), make_pose(np.eye(3), (0, 0, SLOT_FLOOR_M / 2)))]
    for sign in (-1.0, 1.0):
        offset = sign * (half - SLOT_WALL_M / 2)
        prims.append(
            Primitive("box", (SLOT_WALL_M / 2, half, wall_z), make_pose(np.eye(3), (offset, 0, wall_z)))
        )
        prims.append(
            Primitive("box", (half, SLOT_WALL_M / 2, wall_z), make_pose(np.eye(3), (0, offset, wall_z)))
        )
    return prims


@register_task("pack_battery")
class PackBatteryEnv(TaskEnv):
    """Pack Battery task (see the module docstring)."""

    max_duration_s = 9.0
    crop_top_m = 0.2
    """The carried battery's top stays below 0.17 m. Measured on 60 demonstrations: 60 % of the points
    of the full box lie above 0.2 m (the arms); without them the attended battery and slot get 18 of
    256 sampled points instead of 7 (medians)."""
    grasp_in_object = (0.0, 0.0, BATTERY_HALF_LENGTH_M - GRASP_BELOW_TOP_M)
    sample_layout = staticmethod(sample_layout)

    def load_objects(self, objects: Sequence[SceneObject]) -> dict[int, sapien.Entity]:
        actors = {}
        for obj in objects:
            x, y, _ = obj.position
            if obj.category == "battery":
                prim = Primitive("cylinder", (BATTERY_RADIUS_M, BATTERY_HALF_LENGTH_M), _Z_UP_FROM_X)
                actors[obj.id] = self.build_actor(
                    obj.name,
                    [prim],
                    COLOR_RGB[obj.attributes["color"]],
                    np.array([x, y, BATTERY_HALF_LENGTH_M]),
                )
            else:
                actors[obj.id] = self.build_actor(
                    obj.name, _slot_primitives(), TRAY_COLOR, np.array([x, y, 0.0]), body="static"
                )
        return actors

    def placed(self, object_id: int, target_id: int) -> bool:
        T = self.pose(object_id)
        slot = self.pose(target_id)[:3, 3]
        return bool(
            np.linalg.norm(T[:2, 3] - slot[:2]) < SUCCESS_XY_M
            and rests_upright_in_slot(T, half_height_m=BATTERY_HALF_LENGTH_M, floor_m=SLOT_FLOOR_M)
        )

    def expert_plan(self) -> PickPlace:
        """Grasp the chosen battery near its top, release it just above the chosen slot's floor."""
        instr = self.instruction
        return top_grasp_into_slot(
            self.pose(instr.chosen_object)[:3, 3],
            self.pose(instr.chosen_target)[:3, 3],
            half_height_m=BATTERY_HALF_LENGTH_M,
            floor_m=SLOT_FLOOR_M,
            grasp_below_top_m=GRASP_BELOW_TOP_M,
            release_gap_m=RELEASE_GAP_M,
        )
