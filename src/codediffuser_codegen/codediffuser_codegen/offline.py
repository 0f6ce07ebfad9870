"""The offline code generator: a rule-based parser of the task grammar (the embedded default, no key).

It reads exactly the grammar of docs/instructions.md — the same sentences `codediffuser_sim.
instructions.generate_instruction` writes at the four ambiguity levels — and writes the program a VLM
would write over the perception API:

    batteries = detect("battery")
    slots = detect("slot")
    slot = sel_pos(slots, "front left")
    battery = sel_name(batteries, "red battery")
    attend(battery, slot)

Named parts become `sel_name` (colours) or `sel_pos` (spatial words) calls; a side group ("the slot on
the left": any slot of the left column) its documented tie-break pick (`sel_pos(slots, "front left")`);
an ambiguous target becomes `sel_name(targets, "free slot")`, and an ambiguous object ("a battery", or
"the battery" among several) the one nearest to the chosen target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codediffuser_codegen.program import GenerationError, check_instruction

COLORS = ("red", "green", "blue", "yellow", "orange", "purple", "white", "black")


@dataclass(frozen=True)
class TaskGrammar:
    """The words of one task (docs/instructions.md, "Grammar").

    Attributes:
        name: task name.
        verbs: leading verbs.
        prepositions: words between the object and the target phrase.
        object_category, noun, plural: the manipulated object's category and its words.
        target_category, target_noun: the target's category and its word ("shelf slot").
        target_places: whole-target phrases that mean "any free target" ("the tray").
    """

    name: str
    verbs: tuple[str, ...]
    prepositions: tuple[str, ...]
    object_category: str
    noun: str
    plural: str
    target_category: str
    target_noun: str
    target_places: tuple[str, ...]


GRAMMARS = (
    TaskGrammar(
        "pack_battery", ("pack", "put", "place", "insert"), ("into", "in"), "battery", "battery", "batteries",
        "slot", "slot", ("the tray",),
    ),
    TaskGrammar(
        "hang_mug", ("hang", "put", "place"), ("on",), "mug", "mug", "mugs",
        "branch", "branch", ("the mug tree", "the tree"),
    ),
    TaskGrammar(
        "stow_books", ("stow", "put", "place", "insert"), ("into", "in", "on"), "book", "book", "books",
        "shelf_slot", "shelf slot", ("the shelf",),
    ),
)  # fmt: skip
"""One grammar per task, in the order tasks are recognised."""

_COLOR = "(?:" + "|".join(COLORS) + ")"


@dataclass(frozen=True)
class Reference:
    """How one part of the instruction selects its instance.

    Attributes:
        kind: "name" (sel_name with `words`), "pos" (sel_pos with `words`), "anchor" (sel_pos nearest to
            the instance sel_name(`words`) picks), or "any" (ambiguous).
        words: the description or relation passed to the API.
    """

    kind: str
    words: str = ""


@dataclass(frozen=True)
class ParsedInstruction:
    """An instruction understood: its task and how to pick the object and the target."""

    task: TaskGrammar
    object_ref: Reference
    target_ref: Reference


def _object_patterns(g: TaskGrammar) -> list[tuple[str, callable]]:
    n, p = g.noun, g.plural
    return [
        (rf"the (?P<c>{_COLOR}) {n}", lambda m: Reference("name", f"{m['c']} {n}")),
        (rf"the {n} on the (?P<s>left|right)", lambda m: Reference("pos", m["s"])),
        (rf"the (?P<s>left|right)most {n}", lambda m: Reference("pos", m["s"])),
        (rf"the (?P<s>front|back) {n}", lambda m: Reference("pos", m["s"])),
        (rf"the {n} at the (?P<s>front|back)", lambda m: Reference("pos", m["s"])),
        (rf"the (?:middle|center|centre) {n}", lambda m: Reference("pos", "middle")),
        (rf"the {n} (?:closest to|next to|nearest to|nearest) the (?P<c>{_COLOR}) {n}",
         lambda m: Reference("anchor", f"{m['c']} {n}")),
        (rf"(?:a|any|an|the) {n}|one of the {p}", lambda m: Reference("any")),
    ]  # fmt: skip


def _target_patterns(g: TaskGrammar) -> list[tuple[str, callable]]:
    t = g.target_noun
    ambiguous = [(rf"(?:any free|a free|an empty|any empty|any) {t}", lambda m: Reference("any"))]
    ambiguous += [(re.escape(place), lambda m: Reference("any")) for place in g.target_places]
    if g.target_category == "slot":
        named = [
            (r"the (?P<r>front|back) (?P<s>left|right) slot", lambda m: Reference("pos", f"{m['r']} {m['s']}")),
            (r"slot (?P<n>\d{1,2}) in the (?P<r>front|back) row",
             lambda m: Reference("pos", f"{m['r']} {m['n']} from left")),
        ]  # fmt: skip
    elif g.target_category == "branch":
        named = [
            (
                r"the (?P<s>left|middle|right|center|centre) branch",
                lambda m: Reference("pos", _middle(m["s"])),
            ),
            (r"the branch on the (?P<s>left|middle|right)", lambda m: Reference("pos", m["s"])),
        ]
    else:
        named = [
            (r"shelf slot (?P<n>\d{1,2})", lambda m: Reference("pos", f"{m['n']} from left")),
            (r"the (?P<s>left|right)(?:most)? shelf slot", lambda m: Reference("pos", m["s"])),
        ]
    group = [
        (rf"the {t} (?:on|at) the (?P<s>left|right|front|back)", lambda m: _side_group(g, m["s"])),
        (rf"the (?P<s>left|right|front|back) {t}", lambda m: _side_group(g, m["s"])),
    ]
    return named + group + ambiguous


def _side_group(g: TaskGrammar, side: str) -> Reference:
    """The pick for "the slot on the left": any target of that side's extreme column / row is correct.

    Tray slots form rows, so ties break front first for a column ("front left": the front one of the
    left column) and left first for a row ("back left"); branches and shelf slots are one line along x,
    where the side word itself picks (docs/instructions.md, "Side groups").
    """
    if g.target_category != "slot":
        return Reference("pos", side)
    return Reference("pos", f"front {side}" if side in ("left", "right") else f"{side} left")


def _middle(side: str) -> str:
    return "middle" if side in ("center", "centre") else side


def _match(patterns: list[tuple[str, callable]], text: str) -> Reference | None:
    for pattern, build in patterns:
        m = re.fullmatch(pattern, text)
        if m:
            return build(m)
    return None


def parse_instruction(instruction: str) -> ParsedInstruction:
    """Understand an instruction of the docs/instructions.md grammar.

    Raises:
        GenerationError: empty / over-long text, no task word, or a phrase outside the grammar (the
            message quotes the part that was not understood).
    """
    text = check_instruction(instruction)
    text = re.sub(r"^(?:please|now|then|robot,?) ", "", text).removesuffix(" please").rstrip(",")
    g = _grammar_of(text)
    if g is None:
        raise GenerationError(
            f"no task word in {instruction!r}: expected batteries/slots, mugs/branches or books/shelf slots"
        )
    verb = text.split(" ", 1)[0]
    if verb not in g.verbs:
        raise GenerationError(
            f"{g.name}: the instruction must start with one of {list(g.verbs)}, got {verb!r}"
        )
    rest = text[len(verb) :].strip()
    objects = _object_patterns(g)
    targets = _target_patterns(g)
    whole = _match(objects, rest)
    if whole is not None:
        return ParsedInstruction(g, whole, Reference("any"))
    for prep in g.prepositions:
        for m in re.finditer(rf" {prep} ", rest):
            obj = _match(objects, rest[: m.start()])
            tgt = _match(targets, rest[m.end() :])
            if obj is not None and tgt is not None:
                return ParsedInstruction(g, obj, tgt)
    raise GenerationError(
        f"{g.name}: could not understand {rest!r}; say e.g. '{g.verbs[0]} the red {g.noun} "
        f"{g.prepositions[0]} {_example_target(g)}' or '{g.verbs[0]} a {g.noun}'"
    )


def _grammar_of(text: str) -> TaskGrammar | None:
    """The task whose object noun (else target word) the text mentions."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    for g in GRAMMARS:
        if {g.noun, g.plural} & words:
            return g
    for g in GRAMMARS:
        if g.target_noun.split()[0] in words or any(place.split()[-1] in words for place in g.target_places):
            return g
    return None


def guess_task(instruction: str) -> str | None:
    """The task an instruction is about, from its nouns (None when it names no task object)."""
    g = _grammar_of(instruction) if isinstance(instruction, str) else None
    return None if g is None else g.name


def _example_target(g: TaskGrammar) -> str:
    return {"slot": "the front left slot", "branch": "the left branch"}.get(g.target_category, "shelf slot 2")


def program_for(parsed: ParsedInstruction) -> str:
    """The perception-API program that carries out a parsed instruction (object attended first)."""
    g = parsed.task
    obj_var, tgt_var = g.noun.replace(" ", "_"), g.target_noun.replace(" ", "_")
    objs, tgts = f"{obj_var}_candidates", f"{tgt_var}_candidates"
    lines = [f"{objs} = detect({g.object_category!r})", f"{tgts} = detect({g.target_category!r})"]
    tref = parsed.target_ref
    if tref.kind == "pos":
        lines.append(f"{tgt_var} = sel_pos({tgts}, {tref.words!r})")
    else:
        lines.append(f"{tgt_var} = sel_name({tgts}, {('free ' + g.target_noun)!r})")
    oref = parsed.object_ref
    if oref.kind == "name":
        lines.append(f"{obj_var} = sel_name({objs}, {oref.words!r})")
    elif oref.kind == "pos":
        lines.append(f"{obj_var} = sel_pos({objs}, {oref.words!r})")
    elif oref.kind == "anchor":
        lines.append(f"anchor = sel_name({objs}, {oref.words!r})")
        lines.append(f"{obj_var} = sel_pos({objs}, 'nearest', anchor)")
    else:
        lines.append(f"{obj_var} = sel_pos({objs}, 'nearest', {tgt_var})")
    lines.append(f"attend({obj_var}, {tgt_var})")
    return "\n".join(lines) + "\n"


def generate_offline(instruction: str) -> tuple[str, str]:
    """(task name, program) for an instruction; raises `GenerationError` outside the grammar."""
    parsed = parse_instruction(instruction)
    return parsed.task.name, program_for(parsed)
