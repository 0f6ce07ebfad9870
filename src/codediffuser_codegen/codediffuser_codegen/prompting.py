"""Prompts of the code-writing VLM: the system prompt, per-task scenes and examples, repair turns.

The text lives in `prompts/` beside this module (Markdown files shipped as package data), so it can
be read and edited without touching code: `system.md` describes the API and the rules, `<task>.md`
describes the task's scene and gives in-context example programs, `select.md` is the `sel_name`
selection prompt that goes with the composite image.
"""

from __future__ import annotations

from importlib import resources

from codediffuser_codegen.offline import guess_task

TASKS = ("pack_battery", "hang_mug", "stow_books")
"""Tasks with a scene description and examples in `prompts/`."""

Message = dict[str, object]
"""One chat message in the OpenAI format: {"role": ..., "content": str | list of parts}."""


def read_prompt(name: str) -> str:
    """The text of `prompts/<name>.md`.

    Raises:
        FileNotFoundError: no such prompt (the message names the file).
    """
    path = resources.files("codediffuser_codegen").joinpath("prompts", f"{name}.md")
    if not path.is_file():
        raise FileNotFoundError(f"no prompt file prompts/{name}.md in codediffuser_codegen")
    return path.read_text(encoding="utf-8").strip()


def program_messages(instruction: str, task: str | None = None) -> list[Message]:
    """The first request for a program: system prompt, the task's scene and examples, the instruction.

    Args:
        instruction: the operator's instruction (already checked).
        task: the task name when known; else guessed from the instruction's nouns, and when that fails
            every task's scene and examples are included.
    """
    task = task or guess_task(instruction)
    contexts = [read_prompt(t) for t in ([task] if task in TASKS else TASKS)]
    user = "\n\n".join(contexts) + f"\n\n## Now\n\nInstruction: {instruction}\nWrite the program."
    return [{"role": "system", "content": read_prompt("system")}, {"role": "user", "content": user}]


def repair_messages(messages: list[Message], reply: str, error: str) -> list[Message]:
    """The conversation extended by the model's failed reply and the error it caused."""
    feedback = (
        f"That program failed:\n{error}\n\nFix it. Reply with the whole corrected program in one "
        "```python block."
    )
    return [*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": feedback}]
