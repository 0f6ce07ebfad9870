"""Stow Books: stand a book in a slot of a shelf.

Layout (world frame, metres): a low shelf at the back of the table (y ≈ 0.07) with four slots along x,
5 cm apart, separated by dividers; 2–3 books of distinct colours stand in front of it, their thin side
along x like the slots. The expert grasps a book's top edge from above with the fingers closing along x,
so the book keeps its orientation from the table into the slot. Success: a valid book stands upright
(within 20°) on the floor of a valid slot, its centre within 2 cm (x) and 4 cm (y) of the slot's centre.
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

N_SLOTS = 4
SLOT_PITCH_M = 0.05
SLOT_DEPTH_M = 0.08
SHELF_FLOOR_M = 0.004
DIVIDER_M = 0.004
DIVIDER_HEIGHT_M = 0.05
SHELF_COLOR = (0.45, 0.3, 0.18)
BOOK_HALF_SIZE = (0.0125, 0.035, 0.05)
"""Half extents (x thickness, y depth, z height) of a book standing on its bottom edge."""
GRASP_BELOW_TOP_M = 0.015
RELEASE_GAP_M = 0.005
SUCCESS_X_M = 0.02
SUCCESS_Y_M = 0.04
CLOSING_AXIS_YAW = 0.0
"""The fingers close along world x, across the book's thickness."""


def sample_layout(seed: int) -> list[SceneObject]:
    """Seeded Stow Books layout: 2–3 books (ids 1…n) then the shelf slots (ids n+1…)."""
    rng = np.random.default_rng(seed)
    shelf_x = rng.uniform(-0.01, 0.01)
    shelf_y = rng.uniform(0.065, 0.075)
    n = int(rng.integers(2, 4))
    objects = sample_colored_objects(
        rng, "book", n, (-0.08, 0.08), (-0.10, -0.04), min_distance_m=0.06, z_m=BOOK_HALF_SIZE[2]
    )
    for c in range(N_SLOTS):
        objects.append(
            SceneObject(
                id=len(objects) + 1,
                category="shelf_slot",
                name=f"shelf slot {c + 1}",
                position=(shelf_x + (c - (N_SLOTS - 1) / 2) * SLOT_PITCH_M, shelf_y, DIVIDER_HEIGHT_M / 2),
                attributes={"column": str(c + 1), "occupied": "false"},
            )
        )
    return objects


def _slot_primitives() -> list[Primitive]:
    """Floor and the two dividers of one shelf slot, in the slot frame (origin at the floor centre)."""
    half_w, half_d, half_h = SLOT_PITCH_M / 2, SLOT_DEPTH_M / 2, DIVIDER_HEIGHT_M / 2
    prims = [
        Primitive("box", (half_w, half_d, SHELF_FLOOR_M / 2), make_pose(np.eye(3), (0, 0, SHELF_FLOOR_M / 2)))
    ]
    for sign in (-1.0, 1.0):
        prims.append(
            Primitive(
                "box",
                (DIVIDER_M / 2, half_d, half_h),
                make_pose(np.eye(3), (sign * (half_w - DIVIDER_M / 2), 0, half_h)),
            )
        )
    return prims


@register_task("stow_books")
class StowBooksEnv(TaskEnv):
    """Stow Books task (see the module docstring)."""

    max_duration_s = 9.0
    crop_top_m = 0.21
    """The carried book's top stays below 0.173 m (68 demonstrations). Without the arms above 0.21 m
    (59 % of the full box's points) the attended book and slot get 54 of 256 sampled points instead of 22."""
    grasp_in_object = (0.0, 0.0, BOOK_HALF_SIZE[2] - GRASP_BELOW_TOP_M)
    sample_layout = staticmethod(sample_layout)

    def load_objects(self, objects: Sequence[SceneObject]) -> dict[int, sapien.Entity]:
        actors = {}
        for obj in objects:
            x, y, _ = obj.position
            if obj.category == "book":
                actors[obj.id] = self.build_actor(
                    obj.name,
                    [Primitive("box", BOOK_HALF_SIZE)],
                    COLOR_RGB[obj.attributes["color"]],
                    np.array([x, y, BOOK_HALF_SIZE[2]]),
                    density=400.0,
                )
            else:
                actors[obj.id] = self.build_actor(
                    obj.name, _slot_primitives(), SHELF_COLOR, np.array([x, y, 0.0]), body="static"
                )
        return actors

    def placed(self, object_id: int, target_id: int) -> bool:
        T = self.pose(object_id)
        slot = self.pose(target_id)[:3, 3]
        return bool(
            abs(T[0, 3] - slot[0]) < SUCCESS_X_M
            and abs(T[1, 3] - slot[1]) < SUCCESS_Y_M
            and rests_upright_in_slot(T, half_height_m=BOOK_HALF_SIZE[2], floor_m=SHELF_FLOOR_M)
        )

    def expert_plan(self) -> PickPlace:
        """Grasp the chosen book's top edge across its thickness, release it just above the slot floor."""
        instr = self.instruction
        return top_grasp_into_slot(
            self.pose(instr.chosen_object)[:3, 3],
            self.pose(instr.chosen_target)[:3, 3],
            half_height_m=BOOK_HALF_SIZE[2],
            floor_m=SHELF_FLOOR_M,
            grasp_below_top_m=GRASP_BELOW_TOP_M,
            release_gap_m=RELEASE_GAP_M,
            lift_m=0.06,
            grasp_yaw=CLOSING_AXIS_YAW,
            place_yaw=CLOSING_AXIS_YAW,
        )
