"""Language instructions at four ambiguity levels, generated from templates (docs/instructions.md).

This module is the simulator's half of the instruction contract: it turns a task layout (a list of
`SceneObject`) into an `Instruction` whose text follows the grammar of docs/instructions.md and whose
`valid_objects` / `valid_targets` say which instance choices are correct. The offline code generator
(`codediffuser_codegen.offline`) parses the same grammar, and its tests read the template and word
tables defined here, so the two sides never drift.

Pure Python (no SAPIEN, no numpy needed): the simulator builds `SceneObject`s from its actors, the
benchmarks and tests build them directly.

Spatial words are decided from `SceneObject.position` in the world frame (x right, y away from the
operator, z up; metres) with the same rules as `codediffuser_codegen.api.sel_pos`, and a description is
only generated when it is unambiguous by `MARGIN_M`, so that a perception centroid a centimetre off
still resolves to the same instance.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

CATEGORIES = ("battery", "slot", "mug", "branch", "book", "shelf_slot")
"""Instance categories of the three tasks (DESIGN.md §2, docs/instructions.md)."""

COLORS = ("red", "green", "blue", "yellow", "orange", "purple", "white", "black")
"""The fixed colour palette of task objects."""

LEVELS = ("none", "object", "target", "both")
"""Ambiguity levels: which parts of the instruction are left ambiguous (none, object, target, both)."""

MARGIN_M = 0.03
"""A spatial description is generated only when the next-best candidate is this much (metres) worse."""

ROW_GAP_M = 0.02
"""Sorted by y from the front (back), the front (back) row ends at the first gap wider than this."""


class InstructionError(ValueError):
    """A layout or request the instruction generator cannot serve (the message says why)."""


@dataclass(frozen=True)
class SceneObject:
    """One instance of a task layout, as the instruction generator sees it.

    Attributes:
        id: the simulator's actor / segmentation id of the instance (unique within a scene).
        category: one of `CATEGORIES`.
        name: unique human-readable name, e.g. "red battery", "slot back-3", "left branch".
        position: (x, y, z) world frame, metres — the instance's centre (bounding-box centre).
        attributes: string attributes: `color` (objects, from `COLORS`), `row` ("front"/"back", slots),
            `column` ("1".."6" from the left, slots and shelf slots), `side` ("left"/"middle"/"right",
            branches), `occupied` ("true"/"false", targets; a missing key means free).
    """

    id: int
    category: str
    name: str
    position: tuple[float, float, float]
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise InstructionError(
                f"{self.name!r}: category must be one of {CATEGORIES}, got {self.category!r}"
            )
        if len(self.position) != 3 or not all(math.isfinite(float(v)) for v in self.position):
            raise InstructionError(f"{self.name!r}: position must be 3 finite numbers, got {self.position}")
        object.__setattr__(self, "position", tuple(float(v) for v in self.position))
        object.__setattr__(self, "attributes", dict(self.attributes))

    @property
    def free(self) -> bool:
        """Whether a target can receive an object (`occupied` is not "true")."""
        return self.attributes.get("occupied", "false") != "true"


@dataclass(frozen=True)
class Instruction:
    """A generated instruction and the instance choices that satisfy it.

    Attributes:
        text: the instruction, lower case, e.g. "pack the red battery into the front left slot".
        task: task name (a key of `TASKS`).
        level: ambiguity level (one of `LEVELS`).
        valid_objects, valid_targets: ids of every object / target that satisfies the text (a named
            target may be a side group: "the slot on the left" admits both slots of the left column).
        chosen_object, chosen_target: the one choice a demonstration makes (members of the above);
            they are the episode's attended instances, in attend() order (object, target).
    """

    text: str
    task: str
    level: str
    valid_objects: tuple[int, ...]
    valid_targets: tuple[int, ...]
    chosen_object: int
    chosen_target: int

    def is_correct(self, object_id: int, target_id: int) -> bool:
        """Whether choosing (object_id, target_id) satisfies the instruction."""
        return object_id in self.valid_objects and target_id in self.valid_targets


@dataclass(frozen=True)
class TaskSpec:
    """The instruction grammar of one task.

    Attributes:
        object_category, target_category: categories of the manipulated object and of the target.
        templates: sentences with `{object}` and `{target}` slots (paraphrases of the task's verbs).
        target_omitted_templates: sentences with only `{object}`: the target is left ambiguous.
        ambiguous_targets: target phrases that admit any free target.
    """

    object_category: str
    target_category: str
    templates: tuple[str, ...]
    target_omitted_templates: tuple[str, ...]
    ambiguous_targets: tuple[str, ...]


TASKS: dict[str, TaskSpec] = {
    "pack_battery": TaskSpec(
        object_category="battery",
        target_category="slot",
        templates=(
            "pack {object} into {target}",
            "put {object} into {target}",
            "place {object} in {target}",
            "insert {object} into {target}",
        ),
        target_omitted_templates=("pack {object}", "pack {object} into the tray", "put {object} in the tray"),
        ambiguous_targets=("any free slot", "a free slot", "an empty slot"),
    ),
    "hang_mug": TaskSpec(
        object_category="mug",
        target_category="branch",
        templates=("hang {object} on {target}", "put {object} on {target}", "place {object} on {target}"),
        target_omitted_templates=(
            "hang {object}",
            "hang {object} on the mug tree",
            "put {object} on the tree",
        ),
        ambiguous_targets=("any free branch", "a free branch"),
    ),
    "stow_books": TaskSpec(
        object_category="book",
        target_category="shelf_slot",
        templates=(
            "stow {object} into {target}",
            "put {object} in {target}",
            "place {object} into {target}",
            "insert {object} into {target}",
        ),
        target_omitted_templates=("stow {object}", "stow {object} on the shelf", "put {object} on the shelf"),
        ambiguous_targets=("any free shelf slot", "a free shelf slot", "an empty shelf slot"),
    ),
}
"""Template lists per task; the offline generator's tests read these."""

CATEGORY_WORDS: dict[str, tuple[str, str]] = {
    "battery": ("battery", "batteries"),
    "slot": ("slot", "slots"),
    "mug": ("mug", "mugs"),
    "branch": ("branch", "branches"),
    "book": ("book", "books"),
    "shelf_slot": ("shelf slot", "shelf slots"),
}
"""Singular and plural word of each category in instructions."""

AMBIGUOUS_OBJECT_TEMPLATES = ("a {noun}", "any {noun}", "one of the {plural}", "the {noun}")
"""Object phrases that admit any object of the category. The definite article alone does not
disambiguate: "the battery" among several batteries constrains no more than "a battery"."""

NAMED_OBJECT_TEMPLATES = {
    "color": ("the {color} {noun}",),
    "side": ("the {noun} on the {side}", "the {side}most {noun}"),
    "depth": ("the {side} {noun}", "the {noun} at the {side}"),
    "middle": ("the middle {noun}",),
    "anchor": ("the {noun} closest to the {color} {noun}", "the {noun} next to the {color} {noun}"),
}
"""Object phrases that name one object, by description kind: colour, left/right, front/back, middle,
and closest to an anchor named by its colour (see `_object_descriptions`)."""

NAMED_TARGET_TEMPLATES = {
    "slot": ("the {row} {side} slot", "slot {n} in the {row} row"),
    "branch": ("the {side} branch", "the branch on the {side}"),
    "shelf_slot": ("shelf slot {n}", "the {side} shelf slot"),
}
"""Target phrases that name one target; `{n}` counts from the left, starting at 1."""

SIDE_GROUP_TARGET_TEMPLATES = {
    "side": ("the {noun} on the {side}", "the {side} {noun}"),
    "depth": ("the {side} {noun}", "the {noun} at the {side}"),
}
"""Target phrases that name the side group of a side (`side_group`): every target in the extreme
column (left/right) or row (front/back). On the 2 × 6 tray "the slot on the left" is both slots of the
leftmost column; any of them is correct. Where the group is one target they name that target."""


def _pick_index(rng: random.Random | object, n: int) -> int:
    """A uniform index in [0, n) from a `random.Random` or a `numpy.random.Generator`."""
    if n <= 0:
        raise InstructionError("nothing to choose from")
    if isinstance(rng, random.Random):
        return rng.randrange(n)
    integers = getattr(rng, "integers", None)
    if integers is None:
        raise InstructionError(
            f"rng must be random.Random or numpy.random.Generator, got {type(rng).__name__}"
        )
    return int(integers(n))


def _pick(rng: random.Random | object, items: Sequence):
    return items[_pick_index(rng, len(items))]


def _unique_extreme(objs: Sequence[SceneObject], key) -> SceneObject | None:
    """The object minimising `key` if it beats the runner-up by `MARGIN_M`, else None."""
    if not objs:
        return None
    ranked = sorted(objs, key=key)
    if len(ranked) >= 2 and key(ranked[1]) - key(ranked[0]) < MARGIN_M:
        return None
    return ranked[0]


def _xy_distance(a: SceneObject, b: SceneObject) -> float:
    return math.hypot(a.position[0] - b.position[0], a.position[1] - b.position[1])


SIDE_KEYS = {
    "left": lambda o: o.position[0],
    "right": lambda o: -o.position[0],
    "front": lambda o: o.position[1],
    "back": lambda o: -o.position[1],
}
"""Sort keys whose minimum is the left/right/front/back-most instance (docs/instructions.md)."""


def side_group(objs: Sequence[SceneObject], side: str) -> list[SceneObject] | None:
    """The instances at the extreme `side` ("left"/"right"/"front"/"back") of `objs`, if clear-cut.

    Ranked by the side's coordinate, the group is every instance within `ROW_GAP_M` / 2 (1 cm) of the
    extreme one, and it exists only when the next instance is at least `MARGIN_M` beyond the group's
    last member (the same margin as a unique extreme, which is a group of one) and when it leaves at
    least one instance out (a side of a single line along it is no constraint).

    Raises:
        InstructionError: unknown side.
    """
    if side not in SIDE_KEYS:
        raise InstructionError(f"side must be one of {sorted(SIDE_KEYS)}, got {side!r}")
    key = SIDE_KEYS[side]
    ranked = sorted(objs, key=key)
    keys = [key(o) for o in ranked]
    for i in range(1, len(ranked)):
        if keys[i] - keys[0] > ROW_GAP_M / 2:
            return ranked[:i] if keys[i] - keys[i - 1] >= MARGIN_M else None
    return None


def _middle(objs: Sequence[SceneObject]) -> SceneObject | None:
    """The object closest to the median x, for an odd count ≥ 3 (else no unique middle)."""
    if len(objs) < 3 or len(objs) % 2 == 0:
        return None
    xs = sorted(o.position[0] for o in objs)
    median = xs[len(xs) // 2]
    return _unique_extreme(objs, lambda o: abs(o.position[0] - median))


def _row(objs: Sequence[SceneObject], row: str) -> list[SceneObject] | None:
    """The front or back row, if its members are within ROW_GAP_M / 2 and the next is 2 × ROW_GAP_M away."""
    sign = 1.0 if row == "front" else -1.0
    ranked = sorted(objs, key=lambda o: sign * o.position[1])
    ys = [sign * o.position[1] for o in ranked]
    for i in range(1, len(ranked)):
        gap = ys[i] - ys[i - 1]
        if gap > ROW_GAP_M:
            return ranked[:i] if gap >= 2 * ROW_GAP_M else None
        if gap > ROW_GAP_M / 2:
            return None
    return ranked


def _nth_from_left(objs: Sequence[SceneObject], target: SceneObject) -> int | None:
    """1-based rank of `target` by x among `objs`, if neighbours are `MARGIN_M` apart in x."""
    ranked = sorted(objs, key=lambda o: o.position[0])
    i = ranked.index(target)
    for j in (i - 1, i + 1):
        if 0 <= j < len(ranked) and abs(ranked[j].position[0] - target.position[0]) < MARGIN_M:
            return None
    return i + 1


def _object_descriptions(obj: SceneObject, objs: Sequence[SceneObject]) -> list[str]:
    """Every unambiguous phrase naming `obj` among `objs` (its category's candidates)."""
    noun = CATEGORY_WORDS[obj.category][0]
    phrases: list[str] = []
    color = obj.attributes.get("color")
    if color and sum(o.attributes.get("color") == color for o in objs) == 1:
        phrases += [t.format(color=color, noun=noun) for t in NAMED_OBJECT_TEMPLATES["color"]]
    for side, key in SIDE_KEYS.items():
        if len(objs) >= 2 and _unique_extreme(objs, key) is obj:
            templates = NAMED_OBJECT_TEMPLATES["side" if side in ("left", "right") else "depth"]
            phrases += [t.format(side=side, noun=noun) for t in templates]
    if _middle(objs) is obj:
        phrases += [t.format(noun=noun) for t in NAMED_OBJECT_TEMPLATES["middle"]]
    for anchor in objs:
        anchor_color = anchor.attributes.get("color")
        if (
            anchor is obj
            or not anchor_color
            or sum(o.attributes.get("color") == anchor_color for o in objs) != 1
        ):
            continue
        others = [o for o in objs if o is not anchor]
        if len(others) >= 2 and _unique_extreme(others, lambda o, a=anchor: _xy_distance(o, a)) is obj:
            phrases += [t.format(noun=noun, color=anchor_color) for t in NAMED_OBJECT_TEMPLATES["anchor"]]
    return phrases


def _target_descriptions(target: SceneObject, targets: Sequence[SceneObject]) -> list[str]:
    """Every unambiguous phrase naming `target` among all targets of its category (free or not)."""
    templates = NAMED_TARGET_TEMPLATES[target.category]
    phrases: list[str] = []
    if target.category == "slot":
        row_side, row_nth = templates
        for row in ("front", "back"):
            members = _row(targets, row)
            if members is None or target not in members or len(members) < 2:
                continue
            for side in ("left", "right"):
                if _unique_extreme(members, SIDE_KEYS[side]) is target:
                    phrases.append(row_side.format(row=row, side=side))
            n = _nth_from_left(members, target)
            if n is not None:
                phrases.append(row_nth.format(row=row, n=n))
    elif target.category == "branch":
        sides = [
            s
            for s in ("left", "right")
            if len(targets) >= 2 and _unique_extreme(targets, SIDE_KEYS[s]) is target
        ]
        if _middle(targets) is target:
            sides.append("middle")
        phrases += [t.format(side=side) for side in sides for t in templates]
    else:  # shelf_slot: one row along x
        nth, side_phrase = templates
        n = _nth_from_left(targets, target)
        if n is not None:
            phrases.append(nth.format(n=n))
        for side in ("left", "right"):
            if len(targets) >= 2 and _unique_extreme(targets, SIDE_KEYS[side]) is target:
                phrases.append(side_phrase.format(side=side))
    return phrases


def _group_tie_break_inside(group: Sequence[SceneObject], targets: Sequence[SceneObject], side: str) -> bool:
    """Whether the offline program's pick for a side-group phrase lies in the group.

    Tray slots form rows, so the program breaks ties front first for a column ("the slot on the left"
    → `sel_pos(slots, "front left")`) and left first for a row ("the back slot" → `sel_pos(slots,
    "back left")`); branches and shelf slots are one line along x and the program takes the extreme
    itself (`sel_pos(branches, "left")`), which is in the group by `MARGIN_M`.
    """
    if targets[0].category != "slot":
        return True
    if side in ("left", "right"):
        row = _row(targets, "front")
        return row is not None and _unique_extreme(row, SIDE_KEYS[side]) in group
    row = _row(targets, side)
    return row is not None and {o.id for o in row} == {o.id for o in group}


def _group_descriptions(targets: Sequence[SceneObject]) -> list[tuple[list[SceneObject], list[str]]]:
    """(side group, phrases) for every side whose group is clear-cut, wholly free and resolvable."""
    noun = CATEGORY_WORDS[targets[0].category][0]
    result = []
    for side in SIDE_KEYS:
        group = side_group(targets, side)
        if (
            group is None
            or not all(t.free for t in group)
            or not _group_tie_break_inside(group, targets, side)
        ):
            continue
        templates = SIDE_GROUP_TARGET_TEMPLATES["side" if side in ("left", "right") else "depth"]
        result.append((group, [t.format(noun=noun, side=side) for t in templates]))
    return result


def _named_target_options(targets: Sequence[SceneObject]) -> list[tuple[tuple[int, ...], list[str]]]:
    """(valid target ids, phrases) for every describable free target and every side group."""
    options: dict[tuple[int, ...], list[str]] = {}
    for t in targets:
        if t.free and (phrases := _target_descriptions(t, targets)):
            options.setdefault((t.id,), []).extend(phrases)
    for group, phrases in _group_descriptions(targets):
        known = options.setdefault(tuple(sorted(o.id for o in group)), [])
        known += [p for p in phrases if p not in known]
    return list(options.items())


def _by_category(objects: Sequence[SceneObject], category: str) -> list[SceneObject]:
    return sorted((o for o in objects if o.category == category), key=lambda o: o.id)


def generate_instruction(
    task: str, objects: Sequence[SceneObject], level: str, rng: random.Random | object
) -> Instruction:
    """Write one instruction for a layout at an ambiguity level.

    Args:
        task: a key of `TASKS`.
        objects: every instance of the layout (other categories are ignored); ids and names unique.
        level: one of `LEVELS`; a named object is described uniquely, a named target uniquely or as a
            wholly free side group ("the slot on the left": the leftmost column, any member correct);
            an ambiguous part admits every candidate object / every free target.
        rng: `random.Random` or `numpy.random.Generator`; the result is a pure function of its state.

    Returns:
        The instruction with its valid choices and one chosen (object, target) pair for demonstrations.

    Raises:
        InstructionError: unknown task or level, duplicate ids/names, no object or no free target, or a
            layout in which the named part has no unambiguous description.
    """
    if task not in TASKS:
        raise InstructionError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    if level not in LEVELS:
        raise InstructionError(f"unknown level {level!r}; expected one of {LEVELS}")
    ids = [o.id for o in objects]
    names = [o.name for o in objects]
    if len(set(ids)) != len(ids) or len(set(names)) != len(names):
        raise InstructionError("scene object ids and names must be unique")
    spec = TASKS[task]
    candidates = _by_category(objects, spec.object_category)
    targets = _by_category(objects, spec.target_category)
    free_targets = [t for t in targets if t.free]
    if not candidates:
        raise InstructionError(f"{task}: the layout has no {spec.object_category}")
    if not free_targets:
        raise InstructionError(f"{task}: the layout has no free {spec.target_category}")

    object_named = level in ("none", "target")
    target_named = level in ("none", "object")
    noun, plural = CATEGORY_WORDS[spec.object_category]

    if object_named:
        describable = [(o, d) for o in candidates if (d := _object_descriptions(o, candidates))]
        if not describable:
            raise InstructionError(f"{task}: no {noun} of this layout has an unambiguous description")
        obj, phrases = _pick(rng, describable)
        object_phrase = _pick(rng, phrases)
        valid_objects = (obj.id,)
    else:
        object_phrase = _pick(rng, AMBIGUOUS_OBJECT_TEMPLATES).format(noun=noun, plural=plural)
        valid_objects = tuple(o.id for o in candidates)

    if target_named:
        options = _named_target_options(targets)
        if not options:
            raise InstructionError(f"{task}: no free {spec.target_category} has an unambiguous description")
        valid_targets, phrases = _pick(rng, options)
        text = _pick(rng, spec.templates).format(object=object_phrase, target=_pick(rng, phrases))
    else:
        valid_targets = tuple(t.id for t in free_targets)
        n_forms = len(spec.templates) * len(spec.ambiguous_targets) + len(spec.target_omitted_templates)
        form = _pick_index(rng, n_forms)
        if form < len(spec.target_omitted_templates):
            text = spec.target_omitted_templates[form].format(object=object_phrase)
        else:
            target_phrase = _pick(rng, spec.ambiguous_targets)
            text = _pick(rng, spec.templates).format(object=object_phrase, target=target_phrase)

    return Instruction(
        text=text,
        task=task,
        level=level,
        valid_objects=valid_objects,
        valid_targets=valid_targets,
        chosen_object=valid_objects[_pick_index(rng, len(valid_objects))],
        chosen_target=valid_targets[_pick_index(rng, len(valid_targets))],
    )
