import random

import numpy as np
import pytest

from codediffuser_sim.instructions import (
    AMBIGUOUS_OBJECT_TEMPLATES,
    CATEGORY_WORDS,
    LEVELS,
    TASKS,
    InstructionError,
    SceneObject,
    generate_instruction,
    side_group,
)

COLORS = ("red", "green", "blue", "yellow")


def _layout(task: str, rng: random.Random) -> list[SceneObject]:
    """A random layout in the shape the simulator builds: distinct colours, targets on a grid."""
    spec = TASKS[task]
    objs = []
    n_obj = rng.randint(2, 4)
    xs = rng.sample(range(-5, 6), n_obj)
    for i, (x, color) in enumerate(zip(xs, rng.sample(COLORS, n_obj), strict=False)):
        objs.append(
            SceneObject(
                id=10 + i,
                category=spec.object_category,
                name=f"{color} {CATEGORY_WORDS[spec.object_category][0]}",
                position=(0.05 * x, -0.15 + rng.uniform(-0.05, 0.05), 0.02),
                attributes={"color": color},
            )
        )
    if task == "pack_battery":
        for r, row in enumerate(("front", "back")):
            for c in range(6):
                objs.append(
                    SceneObject(
                        id=100 + 6 * r + c,
                        category="slot",
                        name=f"slot {row}-{c + 1}",
                        position=(-0.125 + 0.05 * c, 0.1 + 0.06 * r, 0.01),
                        attributes={
                            "row": row,
                            "column": str(c + 1),
                            "occupied": str(rng.random() < 0.3).lower(),
                        },
                    )
                )
    elif task == "hang_mug":
        for c, side in enumerate(("left", "middle", "right")):
            objs.append(
                SceneObject(
                    100 + c, "branch", f"{side} branch", (-0.07 + 0.07 * c, 0.15, 0.2), {"side": side}
                )
            )
    else:
        for c in range(4):
            objs.append(
                SceneObject(
                    100 + c,
                    "shelf_slot",
                    f"shelf slot {c + 1}",
                    (-0.12 + 0.08 * c, 0.2, 0.1),
                    {"column": str(c + 1), "occupied": str(c == 0).lower()},
                )
            )
    return objs


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("level", LEVELS)
def test_every_task_and_level_generates_valid_choices(task, level):
    rng = random.Random(0)
    for _ in range(30):
        objects = _layout(task, rng)
        by_id = {o.id: o for o in objects}
        spec = TASKS[task]
        instr = generate_instruction(task, objects, level, rng)
        assert instr.text
        assert instr.text == instr.text.lower()
        assert instr.valid_objects
        assert instr.valid_targets
        assert instr.chosen_object in instr.valid_objects
        assert instr.chosen_target in instr.valid_targets
        assert all(by_id[i].category == spec.object_category for i in instr.valid_objects)
        assert all(by_id[i].category == spec.target_category and by_id[i].free for i in instr.valid_targets)
        n_objects = sum(o.category == spec.object_category for o in objects)
        free = sum(o.category == spec.target_category and o.free for o in objects)
        assert len(instr.valid_objects) == (1 if level in ("none", "target") else n_objects)
        if level in ("none", "object"):  # one target, or the whole (free) side group the text names
            targets = [o for o in objects if o.category == spec.target_category]
            groups = [side_group(targets, s) for s in ("left", "right", "front", "back")]
            ids = set(instr.valid_targets)
            assert len(ids) == 1 or any(g is not None and ids == {o.id for o in g} for g in groups)
        else:
            assert len(instr.valid_targets) == free
        assert instr.is_correct(instr.chosen_object, instr.chosen_target)


def test_named_parts_are_described_correctly():
    rng = random.Random(3)
    seen = set()
    for _ in range(200):
        objects = _layout("pack_battery", rng)
        by_id = {o.id: o for o in objects}
        instr = generate_instruction("pack_battery", objects, "none", rng)
        obj, slot = by_id[instr.valid_objects[0]], by_id[instr.valid_targets[0]]
        if f"the {obj.attributes['color']} battery" in instr.text:
            seen.add("color")
        if "leftmost battery" in instr.text:
            batteries = [o for o in objects if o.category == "battery"]
            assert obj.position[0] == min(o.position[0] for o in batteries)
            seen.add("leftmost")
        if "front left slot" in instr.text:
            assert slot.attributes["row"] == "front"
            assert slot.attributes["column"] == "1"
            seen.add("front left")
        if f"slot {slot.attributes['column']} in the {slot.attributes['row']} row" in instr.text:
            seen.add("nth")
    assert seen == {"color", "leftmost", "front left", "nth"}


def test_ambiguous_phrases_come_from_the_tables():
    rng = random.Random(1)
    objects = _layout("hang_mug", rng)
    texts = {generate_instruction("hang_mug", objects, "both", rng).text for _ in range(50)}
    phrases = {t.format(noun="mug", plural="mugs") for t in AMBIGUOUS_OBJECT_TEMPLATES}
    assert all(any(p in text for p in phrases) for text in texts)
    assert len(texts) > 5  # paraphrases are used


@pytest.mark.parametrize("task", sorted(TASKS))
def test_deterministic_given_rng(task):
    layouts = _layout(task, random.Random(5))
    a = [generate_instruction(task, layouts, lv, random.Random(7)) for lv in LEVELS]
    b = [generate_instruction(task, layouts, lv, random.Random(7)) for lv in LEVELS]
    assert a == b
    c = [generate_instruction(task, layouts, lv, np.random.default_rng(7)) for lv in LEVELS]
    d = [generate_instruction(task, layouts, lv, np.random.default_rng(7)) for lv in LEVELS]
    assert c == d


def test_names_and_ids_must_be_unique():
    a = SceneObject(1, "mug", "red mug", (0, 0, 0), {"color": "red"})
    b = SceneObject(2, "mug", "red mug", (0.1, 0, 0), {"color": "red"})
    branch = SceneObject(3, "branch", "left branch", (0, 0.1, 0.2))
    with pytest.raises(InstructionError, match="unique"):
        generate_instruction("hang_mug", [a, b, branch], "both", random.Random(0))


def test_bad_input_is_a_clear_error():
    mug = SceneObject(1, "mug", "red mug", (0, 0, 0), {"color": "red"})
    full = SceneObject(2, "branch", "left branch", (0, 0.1, 0.2), {"occupied": "true"})
    with pytest.raises(InstructionError, match="unknown task"):
        generate_instruction("juggle", [mug], "none", random.Random(0))
    with pytest.raises(InstructionError, match="unknown level"):
        generate_instruction("hang_mug", [mug], "some", random.Random(0))
    with pytest.raises(InstructionError, match="no free branch"):
        generate_instruction("hang_mug", [mug, full], "both", random.Random(0))
    with pytest.raises(InstructionError, match="category"):
        SceneObject(1, "cup", "cup", (0, 0, 0))
    with pytest.raises(InstructionError, match="finite"):
        SceneObject(1, "mug", "mug", (0, float("nan"), 0))
    twins = [
        SceneObject(1, "mug", "mug a", (0, 0, 0)),
        SceneObject(2, "mug", "mug b", (0.001, 0, 0)),
        SceneObject(3, "branch", "branch", (0, 0.1, 0.2)),
    ]
    with pytest.raises(InstructionError, match="unambiguous"):
        generate_instruction("hang_mug", twins, "target", random.Random(0))


def _tray(occupied=(), row_y=(0.1, 0.16), pitch=0.05):
    return [
        SceneObject(100 + 6 * r + c, "slot", f"slot {row}-{c + 1}", (-0.125 + pitch * c, y, 0.01),
                    {"row": row, "column": str(c + 1), "occupied": str(f"{row}-{c + 1}" in occupied).lower()})
        for r, (row, y) in enumerate(zip(("front", "back"), row_y, strict=True)) for c in range(6)
    ]  # fmt: skip


def test_side_group_is_the_extreme_column_or_row_when_clear_cut():
    tray = _tray()
    assert [o.name for o in side_group(tray, "left")] == ["slot front-1", "slot back-1"]
    assert {o.name for o in side_group(tray, "right")} == {"slot front-6", "slot back-6"}
    assert {o.name for o in side_group(tray, "back")} == {f"slot back-{c}" for c in range(1, 7)}
    assert side_group(_tray(pitch=0.02), "left") is None  # columns 2 cm apart: under MARGIN_M
    skewed = [*tray[:6], *(SceneObject(o.id, o.category, o.name, (o.position[0] + 0.015, *o.position[1:]))
                           for o in tray[6:])]  # fmt: skip
    assert side_group(skewed, "left") is None  # back-1 1.5 cm off: outside the 1 cm group, under MARGIN_M
    line = _tray()[:6]
    assert side_group(line, "front") is None  # one line along x: "front" keeps every candidate
    assert [o.name for o in side_group(line, "left")] == ["slot front-1"]
    with pytest.raises(InstructionError, match="side must be"):
        side_group(tray, "up")


def _battery(i, x, color):
    return SceneObject(i, "battery", f"{color} battery", (x, -0.15, 0.02), {"color": color})


def test_the_slot_on_the_left_admits_both_leftmost_slots_and_the_battery_every_battery():
    objects = [_battery(1, -0.1, "red"), _battery(2, 0.1, "blue"), *_tray()]
    by_id = {o.id: o for o in objects}
    rng = random.Random(0)
    seen = set()
    for _ in range(300):
        instr = generate_instruction("pack_battery", objects, "object", rng)
        if instr.text.endswith(("the slot on the left", "the left slot")):
            assert {by_id[i].name for i in instr.valid_targets} == {"slot front-1", "slot back-1"}
            seen.add("left group")
        if instr.text.startswith(("pack the battery ", "put the battery ", "place the battery ")):
            assert instr.valid_objects == (1, 2)
            seen.add("the battery")
        if "the back slot" in instr.text or "the slot at the back" in instr.text:
            assert len(instr.valid_targets) == 6
            seen.add("back row")
    assert seen == {"left group", "the battery", "back row"}


def test_a_side_group_is_named_only_when_every_member_is_free():
    objects = [_battery(1, -0.1, "red"), _battery(2, 0.1, "blue"), *_tray(occupied=("back-1",))]
    rng = random.Random(0)
    texts = {generate_instruction("pack_battery", objects, "none", rng).text for _ in range(300)}
    assert not any(t.endswith(("the slot on the left", "the left slot")) for t in texts)
    assert any(t.endswith(("the slot on the right", "the right slot")) for t in texts)
