"""Hang Mug: hang a mug by its handle on a branch of a mug tree.

Layout (world frame, metres): the mug tree stands at the back of the table — a crossbar on two posts
with three branches (capsules) pointing towards the operator (−y), tilted up so that a mug stays on;
branches are named left / middle / right by x. 2–3 mugs of distinct colours stand in front, handles
towards +x. A mug is a cylinder (the cup) with a rectangular handle loop of three boxes; its frame has
the origin at the bottom centre, z up. The expert grasps the cup from above with the fingers closing
along y (across the cup, clear of the handle), lifts it, brings the handle loop in front of the branch
tip, threads it along the branch, lowers it onto the branch and lets go.
Success: a valid mug hangs off the table (its bottom 1 cm above the table top) with the centre of its
handle loop within 2.5 cm of a valid branch's axis.
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

BRANCH_SIDES = ("left", "middle", "right")
BRANCH_SPACING_M = 0.08
BRANCH_RADIUS_M = 0.005
BRANCH_LENGTH_M = 0.09
BRANCH_TILT_RAD = np.radians(10.0)
"""Upward tilt of the branches towards their tips."""
BRANCH_HEIGHT_M = 0.15
"""Height of the branches' roots on the crossbar."""
TREE_COLOR = (0.5, 0.35, 0.2)
CUP_RADIUS_M = 0.022
CUP_HEIGHT_M = 0.07
HANDLE_REACH_M = 0.028
"""How far the handle's outer bar stands off the cup wall (x)."""
HANDLE_BOTTOM_M, HANDLE_TOP_M = 0.012, 0.062
"""Heights of the handle's lower and upper bars above the mug bottom."""
HANDLE_BAR_M = 0.006
"""Thickness of the handle bars."""
HANDLE_WIDTH_M = 0.012
"""Extent of the handle along y."""
GRASP_BELOW_TOP_M = 0.015
SUCCESS_HANDLE_M = 0.025
SUCCESS_CLEARANCE_M = 0.01
CLOSING_AXIS_YAW = np.pi / 2
"""The fingers close along world y, across the cup, perpendicular to the handle."""
THREAD_DEPTH_M = 0.055
"""How far along the branch (from its tip) the handle loop is threaded."""


def handle_center() -> np.ndarray:
    """(3,) centre of the handle loop in the mug frame."""
    return np.array(
        [CUP_RADIUS_M + (HANDLE_REACH_M - HANDLE_BAR_M) / 2, 0.0, (HANDLE_BOTTOM_M + HANDLE_TOP_M) / 2]
    )


def branch_geometry(root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(root, unit direction) of a branch axis whose root (on the crossbar) is `root`."""
    direction = np.array([0.0, -np.cos(BRANCH_TILT_RAD), np.sin(BRANCH_TILT_RAD)])
    return root, direction


def sample_layout(seed: int) -> list[SceneObject]:
    """Seeded Hang Mug layout: 2–3 mugs (ids 1…n) then the three branches (ids n+1…).

    A branch's `position` is the middle of its axis.
    """
    rng = np.random.default_rng(seed)
    tree_x = rng.uniform(-0.01, 0.01)
    tree_y = rng.uniform(0.12, 0.13)
    n = int(rng.integers(2, 4))
    objects = sample_colored_objects(
        rng, "mug", n, (-0.12, 0.08), (-0.13, -0.04), min_distance_m=0.085, z_m=CUP_HEIGHT_M / 2
    )
    for b, side in enumerate(BRANCH_SIDES):
        root, direction = branch_geometry(
            np.array([tree_x + (b - 1) * BRANCH_SPACING_M, tree_y, BRANCH_HEIGHT_M])
        )
        middle = root + direction * BRANCH_LENGTH_M / 2
        objects.append(
            SceneObject(
                id=len(objects) + 1,
                category="branch",
                name=f"{side} branch",
                position=tuple(float(v) for v in middle),
                attributes={"side": side, "occupied": "false"},
            )
        )
    return objects


def _mug_primitives() -> list[Primitive]:
    """Cup and handle loop in the mug frame (origin at the bottom centre)."""
    upright = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # cylinder axis x → z
    half_bar, half_w = HANDLE_BAR_M / 2, HANDLE_WIDTH_M / 2
    outer_x = CUP_RADIUS_M + HANDLE_REACH_M - half_bar
    bar_half_x = (HANDLE_REACH_M + 0.004) / 2  # bars reach 4 mm into the cup wall
    bar_x = CUP_RADIUS_M - 0.004 + bar_half_x
    loop_half_z = (HANDLE_TOP_M - HANDLE_BOTTOM_M) / 2 + half_bar
    return [
        Primitive("cylinder", (CUP_RADIUS_M, CUP_HEIGHT_M / 2), make_pose(upright, (0, 0, CUP_HEIGHT_M / 2))),
        Primitive("box", (bar_half_x, half_w, half_bar), make_pose(np.eye(3), (bar_x, 0, HANDLE_TOP_M))),
        Primitive("box", (bar_half_x, half_w, half_bar), make_pose(np.eye(3), (bar_x, 0, HANDLE_BOTTOM_M))),
        Primitive(
            "box",
            (half_bar, half_w, loop_half_z),
            make_pose(np.eye(3), (outer_x, 0, (HANDLE_TOP_M + HANDLE_BOTTOM_M) / 2)),
        ),
    ]


@register_task("hang_mug")
class HangMugEnv(TaskEnv):
    """Hang Mug task (see the module docstring)."""

    max_duration_s = 11.0
    crop_top_m = 0.25
    """The carried mug's top stays below 0.212 m (55 demonstrations). Without the arms above 0.25 m (58 %
    of the full box's points) the attended mug and branch get 30 of 256 sampled points instead of 13."""
    grasp_in_object = (0.0, 0.0, CUP_HEIGHT_M - GRASP_BELOW_TOP_M)
    mirror_symmetric = False
    """Handles point towards +x in every layout: a mirrored demonstration shows a handle at −x, a scene
    that never occurs, threaded with the opposite turn of the wrist."""
    sample_layout = staticmethod(sample_layout)

    def load_objects(self, objects: Sequence[SceneObject]) -> dict[int, sapien.Entity]:
        actors: dict[int, sapien.Entity] = {}
        branches = [o for o in objects if o.category == "branch"]
        roots = [self._branch_root(b) for b in branches]
        for obj in objects:
            if obj.category == "mug":
                x, y, _ = obj.position
                actors[obj.id] = self.build_actor(
                    obj.name,
                    _mug_primitives(),
                    COLOR_RGB[obj.attributes["color"]],
                    np.array([x, y, 0.0]),
                    density=300.0,
                )
        for obj, root in zip(branches, roots, strict=True):
            _, direction = branch_geometry(root)
            # Capsules run along x; turn x onto the branch direction.
            x_axis = direction
            z_axis = np.cross(x_axis, [1.0, 0.0, 0.0])
            z_axis /= np.linalg.norm(z_axis)
            R = np.stack([x_axis, np.cross(z_axis, x_axis), z_axis], axis=1)
            prim = Primitive("capsule", (BRANCH_RADIUS_M, BRANCH_LENGTH_M / 2), make_pose(R, (0, 0, 0)))
            actors[obj.id] = self.build_actor(
                obj.name, [prim], TREE_COLOR, np.asarray(obj.position), body="static"
            )
        self._tree = self._build_tree(roots)
        return actors

    def _branch_root(self, branch: SceneObject) -> np.ndarray:
        _, direction = branch_geometry(np.zeros(3))
        return np.asarray(branch.position) - direction * BRANCH_LENGTH_M / 2

    def _build_tree(self, roots: list[np.ndarray]) -> sapien.Entity:
        """Crossbar and posts (not an instance: segmentation id 0); replaced on every reset."""
        if getattr(self, "_tree", None) is not None:
            self.scene.remove_entity(self._tree)
        center = np.mean(roots, axis=0)
        half_span = BRANCH_SPACING_M * 1.5
        prims = [
            Primitive("box", (half_span, 0.01, 0.01), make_pose(np.eye(3), (0, 0.01, 0))),
            *(
                Primitive(
                    "box",
                    (0.01, 0.01, center[2] / 2),
                    make_pose(np.eye(3), (sx * half_span, 0.01, -center[2] / 2)),
                )
                for sx in (-1.0, 1.0)
            ),
        ]
        return self.build_actor("mug tree", prims, TREE_COLOR, center, body="static")

    def placed(self, object_id: int, target_id: int) -> bool:
        T = self.pose(object_id)
        handle = T[:3, :3] @ handle_center() + T[:3, 3]
        root = self._branch_root(self.object(target_id))
        _, direction = branch_geometry(root)
        along = np.clip((handle - root) @ direction, 0.0, BRANCH_LENGTH_M)
        distance = np.linalg.norm(handle - (root + along * direction))
        lowest = T[2, 3] - CUP_RADIUS_M * np.sqrt(max(0.0, 1.0 - T[2, 2] ** 2))
        return bool(distance < SUCCESS_HANDLE_M and lowest > SUCCESS_CLEARANCE_M)

    def expert_plan(self) -> PickPlace:
        """Grasp the cup's rim across y; thread the handle along the branch; lower it on; release."""
        instr = self.instruction
        T_mug = self.pose(instr.chosen_object)
        root = self._branch_root(self.object(instr.chosen_target))
        _, direction = branch_geometry(root)
        tcp_in_mug = np.asarray(self.grasp_in_object)
        grasp = T_mug[:3, 3] + tcp_in_mug
        # Where the handle centre must be: on the branch axis, THREAD_DEPTH_M in from the tip, raised so the
        # loop's top bar clears the branch while threading, then lowered onto it.
        tip = root + direction * BRANCH_LENGTH_M
        threaded = tip - direction * THREAD_DEPTH_M
        raise_m = (HANDLE_TOP_M - HANDLE_BOTTOM_M) / 2 - HANDLE_BAR_M - BRANCH_RADIUS_M - 0.004
        offset = tcp_in_mug - handle_center()
        in_front = tip + np.array([0.0, -0.04, 0.0]) + offset
        in_front[2] = threaded[2] + offset[2]
        hang_high = threaded + offset
        hang_low = hang_high - np.array([0.0, 0.0, raise_m + 0.006])
        return PickPlace(
            grasp=grasp,
            place=hang_low,
            lift_m=0.08,
            grasp_yaw=CLOSING_AXIS_YAW,
            place_yaw=CLOSING_AXIS_YAW,
            via=(in_front + np.array([0.0, 0.0, 0.02]), in_front, hang_high),
            retreat=hang_low + np.array([0.0, 0.0, 0.05]),
        )
