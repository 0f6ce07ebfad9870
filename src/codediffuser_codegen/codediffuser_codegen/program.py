"""Program text: the generators' common error and the extraction of code from a model's reply."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

MAX_INSTRUCTION_CHARS = 300
"""Instructions longer than this are refused (the task grammar needs a few dozen characters)."""

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_API_CALL = re.compile(r"\b(detect|sel_name|sel_pos|attend)\s*\(")


@dataclass
class Draft:
    """One program a writer produced, with the conversation that produced it (empty offline).

    Attributes:
        program: the program text ("" when the reply held no code: the repair turn asks again).
        messages: the chat messages sent for it.
        reply: the model's raw reply.
    """

    program: str
    messages: list[dict] = field(default_factory=list)
    reply: str = ""


class GenerationError(ValueError):
    """No program could be produced for an instruction; the message says why (bad input, no model…)."""


def check_instruction(instruction: str) -> str:
    """Normalise an instruction (strip, lower case, one space, no trailing period) or refuse it.

    Raises:
        GenerationError: not a string, empty, or longer than `MAX_INSTRUCTION_CHARS`.
    """
    if not isinstance(instruction, str):
        raise GenerationError(f"the instruction must be text, got {type(instruction).__name__}")
    text = " ".join(instruction.lower().split()).rstrip(".!").strip()
    if not text:
        raise GenerationError("the instruction is empty")
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise GenerationError(f"the instruction is longer than {MAX_INSTRUCTION_CHARS} characters")
    return text


def extract_program(reply: str) -> str:
    """The program inside a model's reply.

    Takes the fenced code blocks (```python … ``` or plain ```) that call the perception API and joins
    them; in a reply without fences, the widest run of lines around the API calls that parses as
    Python. Prose around the code is dropped. The program is not validated here (the sandbox does that).

    Raises:
        GenerationError: the reply holds no code that calls the perception API.
    """
    if not isinstance(reply, str) or not reply.strip():
        raise GenerationError("the model returned an empty reply")
    blocks = [(lang.lower(), body.strip()) for lang, body in _FENCE.findall(reply)]
    code = [
        body for lang, body in blocks if lang in ("", "python", "py", "python3") and _API_CALL.search(body)
    ]
    if code:
        return "\n".join(code) + "\n"
    if not blocks and _API_CALL.search(reply):
        span = _widest_parsable_span(reply.strip().splitlines())
        if span:
            return span
    raise GenerationError("the model's reply contains no code calling detect/sel_name/sel_pos/attend")


def _widest_parsable_span(lines: list[str], max_lines: int = 200) -> str | None:
    """The widest run of lines that covers every API call and parses as Python (prose trimmed off)."""
    lines = lines[:max_lines]
    calls = [i for i, line in enumerate(lines) if _API_CALL.search(line)]
    if not calls:
        return None
    for width in range(len(lines), calls[-1] - calls[0], -1):
        for start in range(0, min(calls[0], len(lines) - width) + 1):
            end = start + width
            if end <= calls[-1]:
                continue
            text = "\n".join(lines[start:end]).strip() + "\n"
            try:
                ast.parse(text)
            except (SyntaxError, ValueError):
                continue
            return text
    return None
