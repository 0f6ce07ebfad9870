"""The perception API that generated programs call (DESIGN.md §4), bound to one observation.

```python
detect(category) -> list[Instance]
sel_name(instances, description) -> Instance
sel_pos(instances, relation, anchor=None) -> Instance
attend(*instances) -> None
```

A `PerceptionAPI` holds one `FeatureCloud` and two injected backends: a detector (category →
instances; the perception core's reference-feature detector, or the simulator's metadata oracle) and a
name selector (instances + description → one instance; a VLM over the composite image, or the offline
metadata matcher). `sel_pos` is pure geometry in the world frame of docs/instructions.md (left = −x,
right = +x, front = −y; distances horizontal), so it is deterministic and needs no model.

Every failure a program can cause is a `SelectionError` whose message names the call, what was asked and
what was available, so that the repair loop can hand it back to the model verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from codediffuser_perception.types import FeatureCloud, Instance, PerceptionError

DetectBackend = Callable[[FeatureCloud, str], list[Instance]]
"""(cloud, category) → instances in a deterministic order; raises `PerceptionError` on bad input."""

NameBackend = Callable[[FeatureCloud, Sequence[Instance], str], Instance]
"""(cloud, candidates, description) → the candidate that matches; raises `SelectionError` otherwise."""

ROW_GAP_M = 0.02
"""Sorted by y from the front (back), the front (back) row ends at the first gap wider than this (and
than half the widest gap; docs/instructions.md)."""

MAX_ATTENDED = 8
"""More attended instances than this is a program bug (the tasks attend to an object and a target)."""

MAX_DESCRIPTION_CHARS = 200
"""Descriptions and relations longer than this are refused."""

DEFAULT_ARM_BASES = {"left": (-0.47, 0.0), "right": (0.47, 0.0)}
"""(x, y) of the ALOHA arm bases in the world frame, metres: the arms sit at the short ends of the table."""


class SelectionError(ValueError):
    """A perception-API call could not produce an instance; the message says what was asked and found."""


_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)?$")
_SIDES = {
    "left": (0, 1.0),
    "leftmost": (0, 1.0),
    "right": (0, -1.0),
    "rightmost": (0, -1.0),
    "front": (1, 1.0),
    "frontmost": (1, 1.0),
    "back": (1, -1.0),
    "backmost": (1, -1.0),
}
"""Position word → (axis, sign): the selected instance minimises sign × centroid[axis]."""
_ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6}


def _xy(inst: Instance) -> np.ndarray:
    return np.asarray(inst.centroid, dtype=np.float64)[:2]


def _describe(instances: Sequence[Instance]) -> str:
    return ", ".join(f"#{i.id} {i.metadata.get('name', i.category)}" for i in instances) or "none"


@dataclass
class PerceptionAPI:
    """The four functions of a program, bound to one observation and the perception backends.

    Attributes:
        cloud: the observation's fused cloud (world frame) with its views.
        detect_backend: see `DetectBackend`.
        name_backend: see `NameBackend`.
        arm_bases: (x, y) of each arm base, for "closest to left arm / right arm / robot".
        attended: instances passed to `attend`, in call order (object first, then target).
        log: one line per call, for the result and the repair prompt.
    """

    cloud: FeatureCloud
    detect_backend: DetectBackend
    name_backend: NameBackend
    arm_bases: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_ARM_BASES))
    attended: list[Instance] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    _detected: dict[str, list[Instance]] = field(default_factory=dict, repr=False)

    def handle(self, inst: Instance) -> int:
        """An observation-unique number for an instance returned by `detect` (the sandbox's reference).

        `Instance.id` is unique per category only for some detectors; the handle is unique across them.
        """
        for number, known in enumerate(self.detected()):
            if known is inst:
                return number
        raise SelectionError(f"instance #{inst.id} ({inst.category}) did not come from detect()")

    def instance(self, handle: int) -> Instance:
        """The instance behind a handle (see `handle`)."""
        known = self.detected()
        if not isinstance(handle, int) or not 0 <= handle < len(known):
            raise SelectionError(f"no detected instance has handle {handle!r}")
        return known[handle]

    def detected(self) -> list[Instance]:
        """Every instance returned by `detect` so far, in detection order."""
        return [i for instances in self._detected.values() for i in instances]

    def reset_program(self) -> None:
        """Forget `attended` and `log` before running another program; detections stay cached."""
        self.attended.clear()
        self.log.clear()

    def detect(self, category: str) -> list[Instance]:
        """All instances of `category` in the observation (cached: one detection per category)."""
        if not isinstance(category, str) or not category.strip() or len(category) > MAX_DESCRIPTION_CHARS:
            raise SelectionError(f"detect: category must be a short non-empty string, got {category!r}")
        category = category.strip().lower()
        if category not in self._detected:
            try:
                found = list(self.detect_backend(self.cloud, category))
            except PerceptionError as exc:
                raise SelectionError(f"detect({category!r}) failed: {exc}") from exc
            self._detected[category] = found
        found = self._detected[category]
        self.log.append(f"detect({category!r}) -> {len(found)}: {_describe(found)}")
        return list(found)

    def sel_name(self, instances: Sequence[Instance], description: str) -> Instance:
        """The instance that matches a description ("red battery", "free slot"), by the name backend."""
        candidates = self._candidates("sel_name", instances)
        if not isinstance(description, str) or not description.strip():
            raise SelectionError(f"sel_name: description must be a non-empty string, got {description!r}")
        if len(description) > MAX_DESCRIPTION_CHARS:
            raise SelectionError(f"sel_name: description longer than {MAX_DESCRIPTION_CHARS} characters")
        chosen = self.name_backend(self.cloud, candidates, description.strip().lower())
        if not any(chosen is c for c in candidates):
            raise SelectionError("sel_name: the name backend returned an instance that is not a candidate")
        self.log.append(f"sel_name([{_describe(candidates)}], {description!r}) -> #{chosen.id}")
        return chosen

    def sel_pos(
        self, instances: Sequence[Instance], relation: str, anchor: Instance | None = None
    ) -> Instance:
        """The instance in a spatial relation (docs/instructions.md, "Spatial relations of sel_pos")."""
        candidates = self._candidates("sel_pos", instances)
        if anchor is not None:
            if not isinstance(anchor, Instance):
                raise SelectionError(f"sel_pos: anchor must be an instance, got {type(anchor).__name__}")
            candidates = [c for c in candidates if c is not anchor]
            if not candidates:
                raise SelectionError("sel_pos: no candidate left once the anchor itself is excluded")
        if not isinstance(relation, str) or len(relation) > MAX_DESCRIPTION_CHARS:
            raise SelectionError(f"sel_pos: relation must be a short string, got {relation!r}")
        chosen = select_by_relation(candidates, relation, anchor, self.arm_bases)
        anchor_text = "" if anchor is None else f", anchor=#{anchor.id}"
        self.log.append(f"sel_pos([{_describe(candidates)}], {relation!r}{anchor_text}) -> #{chosen.id}")
        return chosen

    def attend(self, *instances: Instance) -> None:
        """Mark instances for the policy's attention; call order is role order (object, then target)."""
        if not instances:
            raise SelectionError("attend: give at least one instance")
        for inst in instances:
            if not isinstance(inst, Instance):
                raise SelectionError(f"attend: expected instances, got {type(inst).__name__}")
        if len(self.attended) + len(instances) > MAX_ATTENDED:
            raise SelectionError(f"attend: at most {MAX_ATTENDED} instances")
        self.attended.extend(instances)
        self.log.append(f"attend({', '.join(f'#{i.id}' for i in instances)})")

    def _candidates(self, call: str, instances: Sequence[Instance]) -> list[Instance]:
        if isinstance(instances, Instance):
            instances = [instances]
        if not isinstance(instances, (list, tuple)) or not all(isinstance(i, Instance) for i in instances):
            raise SelectionError(f"{call}: expected a list of instances from detect()")
        if not instances:
            raise SelectionError(f"{call}: no candidates (did detect() find none?)")
        return list(instances)


def _row(candidates: list[Instance], row: str) -> list[Instance]:
    """The front (back) row: sorted by y from that side, the candidates before the first row gap.

    A row gap is a y step wider than `ROW_GAP_M` and than half the widest step, so centroid noise
    inside a row does not split it while the step between rows does.
    """
    sign = 1.0 if row == "front" else -1.0
    ranked = sorted(candidates, key=lambda c: sign * _xy(c)[1])
    steps = np.diff([sign * _xy(c)[1] for c in ranked])
    if len(steps) == 0:
        return ranked
    gaps = np.flatnonzero(steps > max(ROW_GAP_M, 0.5 * float(steps.max())))
    return ranked[: int(gaps[0]) + 1] if len(gaps) else ranked


def _parse_position(words: list[str]) -> tuple[str, int, str | None]:
    """Position words → (kind, ordinal, side): kind in side|middle|nth|nearest|farthest|arm."""
    text = " ".join(words)
    if len(words) == 1 and words[0] in _SIDES:
        return "side", 1, words[0]
    if text in ("middle", "center", "centre"):
        return "middle", 0, None
    if len(words) == 3 and words[1] == "from" and words[2] in ("left", "right", "front", "back"):
        match = _ORDINAL.match(words[0])
        n = int(match.group(1)) if match else _ORDINAL_WORDS.get(words[0], 0)
        if n >= 1:
            return "side", n, words[2]
    if text in ("nearest", "closest", "closest to anchor", "nearest to anchor"):
        return "nearest", 0, None
    if text in ("farthest", "furthest", "farthest from anchor"):
        return "farthest", 0, None
    for arm in ("left", "right"):
        if text in (f"closest to {arm} arm", f"closest to the {arm} arm", f"nearest {arm} arm"):
            return "arm", 0, arm
    if text in ("closest to robot", "closest to the robot", "nearest robot"):
        return "arm", 0, None
    raise SelectionError(
        f"sel_pos: unknown relation {text!r}; use left/right/front/back (or …most), middle, "
        "'2nd from left', nearest/farthest (with anchor), closest to left arm / right arm / robot, "
        "optionally after a row word: 'front left', 'back row 3rd from left'"
    )


def select_by_relation(
    candidates: Sequence[Instance],
    relation: str,
    anchor: Instance | None = None,
    arm_bases: dict[str, tuple[float, float]] | None = None,
) -> Instance:
    """Resolve a `sel_pos` relation over candidates; ties break by the candidates' order.

    Args:
        candidates: non-empty; the anchor already removed.
        relation: see docs/instructions.md; case and extra spaces ignored.
        anchor: required by nearest/farthest.
        arm_bases: (x, y) per arm for the "closest to … arm" relations (default `DEFAULT_ARM_BASES`).

    Raises:
        SelectionError: unknown relation, missing anchor, or an ordinal beyond the candidates.
    """
    words = relation.lower().replace(",", " ").replace("-", " ").split()
    words = [w for w in words if w not in ("the", "one", "instance", "of")]
    if not words:
        raise SelectionError("sel_pos: empty relation")
    pool = list(candidates)
    if len(words) > 1 and words[0] in ("front", "back") and words[1] != "from":
        rest = words[2:] if words[1] == "row" else words[1:]
        if not rest:
            raise SelectionError(f"sel_pos: {relation!r} names a row but not which one in it ('front left')")
        pool = _row(pool, words[0])
        words = rest
    kind, n, side = _parse_position(words)
    xy = np.stack([_xy(c) for c in pool])
    if kind == "side":
        axis, sign = _SIDES[side]
        order = np.argsort(sign * xy[:, axis], kind="stable")
        if n > len(pool):
            raise SelectionError(f"sel_pos: {relation!r} asks for #{n} but there are {len(pool)} candidates")
        return pool[int(order[n - 1])]
    if kind == "middle":
        median = float(np.sort(xy[:, 0])[len(pool) // 2])
        return pool[int(np.argmin(np.abs(xy[:, 0] - median)))]
    if kind in ("nearest", "farthest"):
        if anchor is None:
            raise SelectionError(
                f"sel_pos: {relation!r} needs an anchor instance: sel_pos(xs, {relation!r}, anchor)"
            )
        dist = np.linalg.norm(xy - _xy(anchor), axis=1)
        return pool[int(np.argmin(dist) if kind == "nearest" else np.argmax(dist))]
    bases = arm_bases or DEFAULT_ARM_BASES
    chosen_bases = [bases[side]] if side else list(bases.values())
    dist = np.min(
        [np.linalg.norm(xy - np.asarray(b, dtype=np.float64), axis=1) for b in chosen_bases], axis=0
    )
    return pool[int(np.argmin(dist))]
