"""Instruction → program → sandboxed run → attended instances, with the repair loop; never raises.

`run_instruction` is what the `/instruct` service, the CLI and the simulator call. Whatever goes wrong —
an empty or over-long instruction, unknown task words, an endpoint that is down, a program that does
not validate or fails, no instance found, a choice the model cannot make — comes back as an
`InstructResult` with `success=False` and a message that says what happened; the caller keeps running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from codediffuser_codegen.api import PerceptionAPI
from codediffuser_codegen.offline import generate_offline, guess_task
from codediffuser_codegen.program import Draft, GenerationError, check_instruction
from codediffuser_codegen.sandbox import Sandbox, SandboxError
from codediffuser_perception.types import Attention, FeatureCloud, Instance


class ProgramWriter(Protocol):
    """Writes a program for an instruction and, if `can_repair`, rewrites it given an error."""

    can_repair: bool

    def write(self, instruction: str, task: str | None = None) -> Draft: ...

    def repair(self, draft: Draft, error: str) -> Draft: ...


class OfflineWriter:
    """The rule-based generator as a `ProgramWriter` (deterministic, so it cannot repair)."""

    can_repair = False

    def write(self, instruction: str, task: str | None = None) -> Draft:
        """The offline program; raises `GenerationError` outside the grammar."""
        del task  # the grammar names its task
        return Draft(program=generate_offline(instruction)[1], messages=[], reply="")

    def repair(self, draft: Draft, error: str) -> Draft:
        """Never called (`can_repair` is False)."""
        raise GenerationError(f"the offline generator cannot repair a program: {error}")


@dataclass
class InstructResult:
    """The outcome of one instruction.

    Attributes:
        success: a program ran and attended to at least one instance.
        message: what happened, for the operator ("attended #3 red battery, #9 slot front-2" or the error).
        instruction: the instruction as received.
        task: the task guessed from its nouns (None when it names none).
        program: the last program run (or written).
        attended: the attended instances, object first.
        log: API calls and printed lines of the last run.
        attempts: programs run (1 + repairs).
        error_type: the error's class name ("" on success), e.g. "ValidationError", "LlmError".
    """

    success: bool
    message: str
    instruction: str
    task: str | None = None
    program: str = ""
    attended: list[Instance] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    attempts: int = 0
    error_type: str = ""


def run_instruction(
    instruction: str,
    api: PerceptionAPI,
    writer: ProgramWriter,
    sandbox: Sandbox,
    max_repairs: int = 2,
) -> InstructResult:
    """Write, run and (if the writer can) repair a program until it attends to instances.

    Args:
        instruction: the operator's instruction.
        api: the perception API bound to the current observation (detections are cached across tries).
        writer: `OfflineWriter()` or `llm.LlmProgramWriter`.
        sandbox: where programs run.
        max_repairs: how many times a failing program goes back to the writer with its error.

    Returns:
        The result; it never raises for bad input or a failing model / program.
    """
    result = InstructResult(success=False, message="", instruction=str(instruction))
    try:
        text = check_instruction(instruction)
        result.task = guess_task(text)
        draft = writer.write(text, result.task)
        for attempt in range(max_repairs + 1):
            error = _run(draft, api, sandbox, result)
            if error is None:
                names = ", ".join(f"#{i.id} {i.metadata.get('name', i.category)}" for i in result.attended)
                result.success, result.message = True, f"attended {names}"
                return result
            if not writer.can_repair or attempt == max_repairs:
                break
            draft = writer.repair(draft, error)
        tries = f" after {result.attempts} programs" if result.attempts > 1 else ""
        result.message = f"no working program{tries}: {error}"
    except GenerationError as exc:
        result.error_type, result.message = type(exc).__name__, str(exc)
    except Exception as exc:  # a backend bug must not take the caller down; report it instead
        result.error_type, result.message = type(exc).__name__, f"internal error: {type(exc).__name__}: {exc}"
    return result


def _run(draft: Draft, api: PerceptionAPI, sandbox: Sandbox, result: InstructResult) -> str | None:
    """Run one draft; None on success, else the error text for the repair turn (result updated)."""
    result.program = draft.program
    if not draft.program:
        result.error_type = "GenerationError"
        return "the reply contained no ```python block calling detect/sel_name/sel_pos/attend"
    result.attempts += 1
    api.reset_program()
    try:
        run = sandbox.run(draft.program, api)
    except SandboxError as exc:
        result.error_type, result.log = type(exc).__name__, exc.log
        return f"{type(exc).__name__}: {exc}"
    result.log, result.attended = run.log, run.attended
    if not run.attended:
        result.error_type = "ProgramRuntimeError"
        return "the program attended to nothing: end it with attend(object, target)"
    result.error_type = ""
    return None


def instance_attention(cloud: FeatureCloud, instances: Sequence[Instance]) -> Attention:
    """Attention 1 on the attended instances' own points, 0 elsewhere (no mask model needed).

    The embedded default when no mask backend is configured; `codediffuser_perception.attention.
    compute_attention` refines it with SAM (or oracle) masks over the views.
    """
    values = np.zeros(len(cloud), dtype=np.float32)
    for inst in instances:
        values[inst.indices] = 1.0
    return Attention(values)
