import random

import numpy as np
import pytest

from codediffuser_codegen.api import PerceptionAPI
from codediffuser_codegen.observation import observation_from_objects
from codediffuser_codegen.offline import COLORS, generate_offline, parse_instruction
from codediffuser_codegen.oracle import match_metadata, metadata_detector
from codediffuser_codegen.program import GenerationError
from codediffuser_codegen.sandbox import Sandbox
from codediffuser_sim import instructions as sim

# instruction → (task, program lines that must appear)
TABLE = {
    "pack the red battery into the front left slot": (
        "pack_battery",
        [
            "battery = sel_name(battery_candidates, 'red battery')",
            "slot = sel_pos(slot_candidates, 'front left')",
        ],
    ),
    "Put a battery into slot 3 in the back row.": (
        "pack_battery",
        ["sel_pos(slot_candidates, 'back 3 from left')"],
    ),
    "insert the battery closest to the blue battery into an empty slot": (
        "pack_battery",
        [
            "anchor = sel_name(battery_candidates, 'blue battery')",
            "sel_pos(battery_candidates, 'nearest', anchor)",
        ],
    ),
    "pack a battery": (
        "pack_battery",
        ["slot = sel_name(slot_candidates, 'free slot')", "sel_pos(battery_candidates, 'nearest', slot)"],
    ),
    "hang the mug on the left on the middle branch": (
        "hang_mug",
        ["mug = sel_pos(mug_candidates, 'left')", "branch = sel_pos(branch_candidates, 'middle')"],
    ),
    "hang the mug on the right": ("hang_mug", ["mug = sel_pos(mug_candidates, 'right')", "'free branch'"]),
    "put the green mug on the tree": ("hang_mug", ["'green mug'", "'free branch'"]),
    "place the back mug on the branch on the right": ("hang_mug", ["sel_pos(mug_candidates, 'back')"]),
    "stow the rightmost book into shelf slot 2": (
        "stow_books",
        [
            "book = sel_pos(book_candidates, 'right')",
            "shelf_slot = sel_pos(shelf_slot_candidates, '2 from left')",
        ],
    ),
    "put one of the books on the shelf": ("stow_books", ["'free shelf slot'"]),
    # side groups: any target of the extreme column / row; tray ties break front first, then left first
    "pack the battery into the slot on the left": (
        "pack_battery",
        ["slot = sel_pos(slot_candidates, 'front left')", "sel_pos(battery_candidates, 'nearest', slot)"],
    ),
    "put the battery in the right slot": ("pack_battery", ["sel_pos(slot_candidates, 'front right')"]),
    "place a battery in the slot at the back": ("pack_battery", ["sel_pos(slot_candidates, 'back left')"]),
    "hang the mug on the branch on the right": ("hang_mug", ["branch = sel_pos(branch_candidates, 'right')"]),
    "stow the book into the shelf slot on the left": (
        "stow_books",
        ["shelf_slot = sel_pos(shelf_slot_candidates, 'left')", "'nearest', shelf_slot)"],
    ),
    "stow the middle book into the left shelf slot": (
        "stow_books",
        ["'middle'", "sel_pos(shelf_slot_candidates, 'left')"],
    ),
}


@pytest.mark.parametrize("text", sorted(TABLE))
def test_instruction_table(text):
    task, fragments = TABLE[text]
    got_task, program = generate_offline(text)
    assert got_task == task
    for fragment in fragments:
        assert fragment in program, program
    assert program.rstrip().splitlines()[-1].startswith("attend(")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("x" * 400, "longer than"),
        ("juggle three balls", "no task word"),
        ("throw the red battery into the front left slot", "must start with"),
        ("pack the shiny battery into the front left slot", "could not understand"),
        ("hang the red mug on the ceiling", "could not understand"),
        (None, "must be text"),
    ],
)
def test_bad_instructions_are_clear_errors(text, match):
    with pytest.raises(GenerationError, match=match):
        generate_offline(text)


def test_the_grammar_tables_of_the_simulator_are_all_parsed():
    """Every template × every phrase kind of codediffuser_sim.instructions parses (no drift)."""
    for task, spec in sim.TASKS.items():
        noun, plural = sim.CATEGORY_WORDS[spec.object_category]
        objects = [t.format(noun=noun, plural=plural) for t in sim.AMBIGUOUS_OBJECT_TEMPLATES]
        for kind, templates in sim.NAMED_OBJECT_TEMPLATES.items():
            for t in templates:
                sides = ("front", "back") if kind == "depth" else ("left", "right")
                objects += [t.format(noun=noun, color=c, side=s) for c in COLORS[:2] for s in sides]
        targets = list(spec.ambiguous_targets)
        target_noun = sim.CATEGORY_WORDS[spec.target_category][0]
        for kind, templates in sim.SIDE_GROUP_TARGET_TEMPLATES.items():
            sides = ("front", "back") if kind == "depth" else ("left", "right")
            targets += [t.format(noun=target_noun, side=s) for t in templates for s in sides]
        for t in sim.NAMED_TARGET_TEMPLATES[spec.target_category]:
            targets += [
                t.format(row=r, side=s, n=n)
                for r in ("front", "back")
                for s in ("left", "right")
                for n in (1, 6)
            ]
        for obj in objects:
            for template in spec.templates:
                for target in targets:
                    assert parse_instruction(template.format(object=obj, target=target)).task.name == task
            for template in spec.target_omitted_templates:
                parsed = parse_instruction(template.format(object=obj))
                assert parsed.target_ref.kind == "any"


def _layout(task, rng):
    """A small layout of `task` with distinct colours (sim's samplers need SAPIEN; the benchmark uses them)."""
    spec = sim.TASKS[task]
    n = 3
    colors = rng.sample(sim.COLORS, n)
    xs = rng.sample(range(-3, 4), n)
    objs = [
        sim.SceneObject(
            i + 1, spec.object_category, f"{c} {spec.object_category}", (0.06 * x, -0.1, 0.02), {"color": c}
        )
        for i, (c, x) in enumerate(zip(colors, xs, strict=True))
    ]
    if task == "pack_battery":
        rows = [("front", 0.1), ("back", 0.145)]
        objs += [
            sim.SceneObject(10 + 6 * r + c, "slot", f"slot {row}-{c + 1}", (-0.11 + 0.045 * c, y, 0.01),
                            {"row": row, "column": str(c + 1), "occupied": str(rng.random() < 0.3).lower()})
            for r, (row, y) in enumerate(rows) for c in range(6)
        ]  # fmt: skip
    else:
        category = "branch" if task == "hang_mug" else "shelf_slot"
        objs += [
            sim.SceneObject(
                10 + c, category, f"{category} {c + 1}", (-0.07 + 0.07 * c, 0.15, 0.2), {"column": str(c + 1)}
            )
            for c in range(3)
        ]
    return objs


def test_generated_instructions_are_grounded_correctly():
    sandbox = Sandbox()
    rng = random.Random(0)
    for task in sorted(sim.TASKS):
        for level in sim.LEVELS:
            for _ in range(3):
                objects = _layout(task, rng)
                instr = sim.generate_instruction(task, objects, level, rng)
                obs = observation_from_objects(objects, np.random.default_rng(0), centre_noise_m=0.003)
                api = PerceptionAPI(obs.cloud, metadata_detector(obs.objects), match_metadata)
                got_task, program = generate_offline(instr.text)
                attended = [i.id for i in sandbox.run(program, api).attended]
                assert got_task == task
                assert instr.is_correct(*attended), (instr.text, attended, program)


@pytest.mark.parametrize("seed", range(5))
def test_the_slot_on_the_left_grounds_to_a_battery_and_a_leftmost_slot(seed):
    """The literal of issue #7 on a tray with noisy centroids: the front one of the left column."""
    rng = random.Random(seed)
    objects = _layout("pack_battery", rng)
    obs = observation_from_objects(objects, np.random.default_rng(seed), centre_noise_m=0.005)
    api = PerceptionAPI(obs.cloud, metadata_detector(obs.objects), match_metadata)
    _, program = generate_offline("pack the battery into the slot on the left")
    battery, slot = Sandbox().run(program, api).attended
    assert battery.category == "battery"
    assert slot.metadata["name"] == "slot front-1"
