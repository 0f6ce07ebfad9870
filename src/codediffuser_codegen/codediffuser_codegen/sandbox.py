"""Run untrusted generated programs: static allow-list, then a resource-limited child process.

Two walls (DESIGN.md §4):

1. `validate_program` parses the text and accepts only an allow-list of syntax: assignments, `for`
   over lists / `range()` (capped), `if`, comprehensions, lambdas and plain `def`s, calls, constants,
   and attribute access to the few instance / list / str attributes of `ALLOWED_ATTRIBUTES`. No import,
   `while`, `try`, `class`, `with`, `global`, no name or attribute starting with "_", no format specs,
   no rebinding of the API or builtin names. Refusals raise `ValidationError` with the line number.
2. `Sandbox.run` executes it in a fresh `python -I -S` child (`_sandbox_child.py`) that sees only the
   four API functions and a few safe builtins and limits its own address space, CPU time, file writes
   and process creation. Each API call travels to this (parent) process as JSON and is answered by the
   bound `PerceptionAPI`: the child never holds the cloud, the backends or any key. The parent enforces
   the wall-clock budget (time spent by the child only, not by the VLM answering `sel_name`), the
   number of calls and the size of everything the child writes; a misbehaving child is killed, never
   waited for.

A fresh child per program costs ≈ 30 ms and leaves no state between programs.
"""

from __future__ import annotations

import ast
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from codediffuser_codegen.api import PerceptionAPI, SelectionError
from codediffuser_perception.types import Instance

API_NAMES = ("detect", "sel_name", "sel_pos", "attend")
"""The functions a program may call besides `SAFE_BUILTINS`."""

SAFE_BUILTINS = [
    "abs",
    "all",
    "any",
    "bool",
    "dict",
    "enumerate",
    "float",
    "int",
    "len",
    "list",
    "max",
    "min",
    "print",
    "range",
    "reversed",
    "round",
    "set",
    "sorted",
    "str",
    "sum",
    "tuple",
    "zip",
]
"""Builtins in the program's scope (`range` is capped, `print` goes to the result's log)."""

ALLOWED_ATTRIBUTES = frozenset(
    {"id", "category", "centroid", "bbox_min", "bbox_max", "score", "name"}
    | {"append", "extend", "index", "count", "sort", "reverse", "copy"}
    | {"items", "keys", "values", "get"}
    | {"lower", "upper", "strip", "startswith", "endswith", "split", "join", "replace"}
)
"""Attributes a program may read: instance fields, and list / dict / str methods without side doors."""

FORBIDDEN_NAMES = frozenset(
    [
        "exec",
        "eval",
        "compile",
        "open",
        "getattr",
        "setattr",
        "delattr",
        "hasattr",
        "globals",
        "locals",
        "vars",
        "dir",
        "type",
        "object",
        "super",
        "breakpoint",
        "input",
        "help",
        "memoryview",
        "classmethod",
        "staticmethod",
        "property",
    ]
)
"""Names refused outright: the classic ways out of a restricted scope (also absent from the scope)."""

_ALLOWED_NODES = (
    ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.For, ast.If, ast.Pass, ast.Break, ast.Continue,
    ast.FunctionDef, ast.Return, ast.arguments, ast.arg, ast.Lambda,
    ast.Name, ast.Load, ast.Store, ast.Constant, ast.Call, ast.keyword, ast.Attribute, ast.Subscript,
    ast.Slice, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp, ast.comprehension, ast.IfExp, ast.Compare, ast.BoolOp, ast.BinOp, ast.UnaryOp,
    ast.Starred, ast.JoinedStr, ast.FormattedValue,
    ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.USub, ast.UAdd, ast.Not, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
    ast.In, ast.NotIn, ast.Is, ast.IsNot,
)  # fmt: skip
_HINTS = {
    ast.While: "use a for loop over a list or range()",
    ast.Import: "the API functions are already in scope",
    ast.ImportFrom: "the API functions are already in scope",
    ast.Try: "errors end the program; check values with if instead",
}

_CHILD = Path(__file__).with_name("_sandbox_child.py")


class SandboxError(Exception):
    """A program was refused or failed in the sandbox; the message says why, for a person or a model.

    Attributes:
        log: the API calls and printed lines up to the failure (empty when refused before running).
    """

    def __init__(self, message: str, log: list[str] | None = None) -> None:
        super().__init__(message)
        self.log = list(log or [])


class ValidationError(SandboxError):
    """The program text is not allowed (syntax outside the allow-list, too long, not Python)."""


class ProgramRuntimeError(SandboxError):
    """The program raised an exception (NameError, IndexError, a refused API call, …)."""


class ResourceLimitError(SandboxError):
    """The program exceeded a limit: see the subclasses."""


class TimeLimitError(ResourceLimitError):
    """Wall-clock budget exhausted."""


class CpuLimitError(ResourceLimitError):
    """CPU-time budget exhausted (the child got SIGXCPU)."""


class MemoryLimitError(ResourceLimitError):
    """Address-space budget exhausted (MemoryError) or recursion too deep."""


class OutputLimitError(ResourceLimitError):
    """Too much output: printed text, a protocol line, or too many API calls."""


class WorkerCrashError(SandboxError):
    """The child process died without a result."""


@dataclass(frozen=True)
class SandboxLimits:
    """Budgets of one program run.

    Attributes:
        wall_s: seconds the child may run (time the parent spends answering API calls excluded).
        cpu_s: CPU seconds of the child (RLIMIT_CPU).
        memory_mb: address space of the child in MiB (RLIMIT_AS; the interpreter itself needs ≈ 20).
        output_chars: characters the program may print.
        max_source_chars, max_nodes, max_depth: size of the program text and of its syntax tree.
        max_calls: API calls per program.
        max_range: longest `range()`.
    """

    wall_s: float = 5.0
    cpu_s: int = 2
    memory_mb: int = 256
    output_chars: int = 20_000
    max_source_chars: int = 10_000
    max_nodes: int = 3_000
    max_depth: int = 40
    max_calls: int = 200
    max_range: int = 10_000

    def __post_init__(self) -> None:
        for name in ("wall_s", "cpu_s", "memory_mb", "output_chars", "max_source_chars", "max_calls"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.memory_mb < 64:
            raise ValueError(f"memory_mb must be ≥ 64 (the interpreter needs it), got {self.memory_mb}")


@dataclass
class ProgramResult:
    """What a program did.

    Attributes:
        attended: instances passed to `attend`, in call order.
        log: the API call log (`PerceptionAPI.log`) followed by the program's printed lines.
    """

    attended: list[Instance] = field(default_factory=list)
    log: list[str] = field(default_factory=list)


def _where(node: ast.AST) -> str:
    return f"line {getattr(node, 'lineno', '?')}"


def validate_program(source: str, limits: SandboxLimits | None = None) -> ast.Module:
    """Parse and check a program against the allow-list.

    Returns:
        The parsed module.

    Raises:
        ValidationError: with the offending line and what to do instead.
    """
    limits = limits or SandboxLimits()
    if not isinstance(source, str) or not source.strip():
        raise ValidationError("the program is empty")
    if len(source) > limits.max_source_chars:
        raise ValidationError(f"the program is longer than {limits.max_source_chars} characters")
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as exc:
        raise ValidationError(f"not valid Python (line {exc.lineno}): {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ValidationError(f"the program cannot be parsed: {type(exc).__name__}") from None
    reserved = set(API_NAMES) | set(SAFE_BUILTINS)
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > limits.max_nodes:
            raise ValidationError(f"the program has more than {limits.max_nodes} syntax nodes")
        if depth > limits.max_depth:
            raise ValidationError(f"expressions nest deeper than {limits.max_depth} levels ({_where(node)})")
        if not isinstance(node, _ALLOWED_NODES):
            hint = _HINTS.get(type(node), "only plain assignments, for/if, calls and expressions are allowed")
            raise ValidationError(f"{type(node).__name__} is not allowed ({_where(node)}): {hint}")
        _check_node(node, reserved)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return tree


def _check_node(node: ast.AST, reserved: set[str]) -> None:
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ValidationError(
                f"name {node.id!r} is not allowed ({_where(node)}): no names starting with '_'"
            )
        if node.id in FORBIDDEN_NAMES:
            raise ValidationError(f"{node.id!r} is not allowed ({_where(node)})")
        if isinstance(node.ctx, ast.Store) and node.id in reserved:
            raise ValidationError(f"{node.id!r} cannot be reassigned ({_where(node)})")
    elif isinstance(node, ast.Attribute):
        if node.attr not in ALLOWED_ATTRIBUTES:
            raise ValidationError(
                f"attribute {node.attr!r} is not allowed ({_where(node)}); allowed: {sorted(ALLOWED_ATTRIBUTES)}"
            )
        if not isinstance(node.ctx, ast.Load):
            raise ValidationError(f"attributes are read-only ({_where(node)})")
    elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
        args = node.args
        if getattr(node, "decorator_list", None) or getattr(node, "returns", None):
            raise ValidationError(f"decorators and annotations are not allowed ({_where(node)})")
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None and (arg.arg.startswith("_") or arg.annotation is not None):
                raise ValidationError(f"argument {arg.arg!r} is not allowed ({_where(node)})")
        if isinstance(node, ast.FunctionDef) and (node.name.startswith("_") or node.name in reserved):
            raise ValidationError(f"function name {node.name!r} is not allowed ({_where(node)})")
    elif isinstance(node, ast.FormattedValue) and node.format_spec is not None:
        raise ValidationError(f"format specifications are not allowed ({_where(node)})")
    elif isinstance(node, ast.Constant) and isinstance(node.value, bytes):
        raise ValidationError(f"bytes literals are not allowed ({_where(node)})")


class _LineReader:
    """Reads newline-terminated messages from a pipe with a deadline and a size cap."""

    def __init__(self, fd: int, max_line: int) -> None:
        self.fd = fd
        self.max_line = max_line
        self.buffer = bytearray()

    def readline(self, timeout_s: float) -> bytes | None:
        """One line (without the newline), None at end of file; raises TimeLimitError / OutputLimitError."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            if len(self.buffer) > self.max_line:
                raise OutputLimitError(f"the program wrote a message longer than {self.max_line} bytes")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeLimitError("the program ran out of wall-clock time")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, rest = self.buffer.partition(b"\n")
        self.buffer = bytearray(rest)
        if len(line) > self.max_line:
            raise OutputLimitError(f"the program wrote a message longer than {self.max_line} bytes")
        return bytes(line)


def _instance_message(api: PerceptionAPI, inst: Instance) -> dict:
    return {
        "instance": {
            "ref": api.handle(inst),
            "id": int(inst.id),
            "category": inst.category,
            "centroid": [float(v) for v in inst.centroid],
            "bbox_min": [float(v) for v in inst.bbox_min],
            "bbox_max": [float(v) for v in inst.bbox_max],
            "score": float(inst.score),
            "name": inst.metadata.get("name", inst.category),
        }
    }


class Sandbox:
    """Runs validated programs in a fresh, limited child process; one program at a time per call.

    The sandbox holds no state between runs, so one instance may serve a node for its whole life; a
    hostile program costs at most its budgets and never the serving process.
    """

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()

    def run(self, source: str, api: PerceptionAPI) -> ProgramResult:
        """Validate and execute `source` against `api`.

        Returns:
            The attended instances and the log.

        Raises:
            SandboxError: a subclass saying why the program was refused or failed.
        """
        validate_program(source, self.limits)
        request = {
            "source": source,
            "builtins": list(SAFE_BUILTINS),
            "cpu_s": self.limits.cpu_s,
            "memory_mb": self.limits.memory_mb,
            "output_chars": self.limits.output_chars,
            "max_range": self.limits.max_range,
        }
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            env={},  # no API keys or paths of the serving process reach the child
        )
        try:
            return self._converse(proc, request, api)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                stream.close()

    def _converse(self, proc: subprocess.Popen, request: dict, api: PerceptionAPI) -> ProgramResult:
        reader = _LineReader(proc.stdout.fileno(), max_line=4 * self.limits.output_chars + 65536)
        self._send(proc, request)
        budget_s = self.limits.wall_s
        calls = 0
        while True:
            started = time.monotonic()
            line = reader.readline(budget_s)
            budget_s -= time.monotonic() - started
            if line is None:
                raise self._death(proc)
            try:
                message = json.loads(line)
            except ValueError:
                raise WorkerCrashError("the sandbox child wrote an unreadable message") from None
            if "call" in message:
                calls += 1
                if calls > self.limits.max_calls:
                    raise OutputLimitError(f"the program made more than {self.limits.max_calls} API calls")
                self._send(proc, self._answer(api, message))
                continue
            printed = message.get("done", message).get("log", [])
            log = api.log + [f"print: {line}" for line in printed]
            if "done" in message:
                return ProgramResult(attended=list(api.attended), log=log)
            kind, text = message.get("failed"), str(message.get("message", ""))
            if kind == "memory":
                raise MemoryLimitError("the program ran out of memory", log)
            if kind == "recursion":
                raise MemoryLimitError(f"the program recursed too deeply: {text}", log)
            if kind == "output":
                raise OutputLimitError(text, log)
            raise ProgramRuntimeError(text, log)

    @staticmethod
    def _send(proc: subprocess.Popen, message: dict) -> None:
        try:
            proc.stdin.write((json.dumps(message) + "\n").encode())
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerCrashError("the sandbox child closed its input") from None

    @staticmethod
    def _answer(api: PerceptionAPI, message: dict) -> dict:
        name, args = message.get("call"), message.get("args", [])
        if name not in API_NAMES or not isinstance(args, list):
            return {"error": f"unknown API call {name!r}"}

        def decode(value):
            if isinstance(value, dict):
                return api.instance(value.get("ref"))
            if isinstance(value, list):
                return [decode(v) for v in value]
            return value

        try:
            result = getattr(api, name)(*[decode(a) for a in args])
            if isinstance(result, Instance):
                return {"ok": _instance_message(api, result)}
            if isinstance(result, list):
                return {"ok": [_instance_message(api, i) for i in result]}
        except SelectionError as exc:
            return {"error": str(exc)}
        except TypeError as exc:
            return {"error": f"{name}: wrong arguments ({exc})"}
        return {"ok": None}

    @staticmethod
    def _death(proc: subprocess.Popen) -> SandboxError:
        try:
            rc = proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return WorkerCrashError("the sandbox child closed its output but did not exit")
        if rc in (-signal.SIGXCPU, -signal.SIGKILL):
            return CpuLimitError("the program used up its CPU time")
        return WorkerCrashError(f"the sandbox child exited with status {rc} without a result")
