"""The sandbox's child process: runs one validated program with the API as remote stubs.

Started by `codediffuser_codegen.sandbox` as `python -I -S <this file>` (isolated, no site packages),
so it imports only the standard library and holds nothing of the parent: no perception backends, no
cloud, no keys. Protocol (JSON lines on stdin/stdout):

1. parent → child: `{"source": str, "builtins": [names], "cpu_s": int, "memory_mb": int,
   "output_chars": int, "max_range": int}`
2. child → parent: `{"call": "detect"|"sel_name"|"sel_pos"|"attend", "args": [...]}`; parent → child:
   `{"ok": value}` or `{"error": message}`. Instances travel as `{"instance": {ref, id, category,
   centroid, bbox_min, bbox_max, score, name}}` and come back as `{"ref": ref}` (`ref` is the parent's
   observation-unique handle; programs cannot read it).
3. child → parent, last line: `{"done": {"log": [...]}}` or `{"failed": kind, "message": str,
   "log": [...]}` with kind in runtime|api|memory|recursion|output.

The process limits itself before running the program: address space (RLIMIT_AS), CPU seconds
(RLIMIT_CPU: SIGXCPU ends it), no file writes (RLIMIT_FSIZE), no new processes (RLIMIT_NPROC).
"""

import builtins
import json
import resource
import sys

API_NAMES = ("detect", "sel_name", "sel_pos", "attend")
MAX_MESSAGE_CHARS = 2000


class ProgramError(Exception):
    """An API call refused by the parent (message from the parent's `SelectionError`)."""


class OutputLimitError(Exception):
    """The program printed more than its output budget."""


class InstanceHandle:
    """Read-only view of one instance: what a program may inspect (world frame, metres)."""

    __slots__ = ("bbox_max", "bbox_min", "category", "centroid", "id", "name", "ref", "score")

    def __init__(self, fields):
        for key in self.__slots__:
            object.__setattr__(self, key, fields.get(key))

    def __setattr__(self, key, value):
        raise AttributeError("instances are read-only")

    def __repr__(self):
        return f"Instance(id={self.id}, category={self.category!r}, name={self.name!r})"


def _encode(value, depth=0):
    if depth > 3:
        raise TypeError("arguments nest too deeply")
    if isinstance(value, InstanceHandle):
        return {"ref": value.ref}
    if isinstance(value, (list, tuple)):
        return [_encode(v, depth + 1) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"a {type(value).__name__} cannot be passed to the perception API")


def _decode(value):
    if isinstance(value, dict) and "instance" in value:
        return InstanceHandle(value["instance"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _limit(name, value):
    """Lower a resource limit (soft and hard, so the program cannot raise it back)."""
    _, hard = resource.getrlimit(name)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(name, (value, value))


def main():
    stdin, stdout = sys.stdin, sys.stdout
    request = json.loads(stdin.readline())
    log = []
    printed = [0]

    def send(message):
        stdout.write(json.dumps(message) + "\n")
        stdout.flush()

    def remote(name):
        def call(*args):
            send({"call": name, "args": [_encode(a) for a in args]})
            reply = json.loads(stdin.readline())
            if "error" in reply:
                raise ProgramError(reply["error"])
            return _decode(reply["ok"])

        call.__name__ = name
        return call

    def safe_print(*args, sep=" ", end="\n"):
        text = str(sep).join(str(a) for a in args) + str(end)
        printed[0] += len(text)
        if printed[0] > request["output_chars"]:
            raise OutputLimitError(f"the program printed more than {request['output_chars']} characters")
        log.append(text.rstrip("\n"))

    def safe_range(*args):
        r = builtins.range(*args)
        if len(r) > request["max_range"]:
            raise ValueError(f"range() longer than {request['max_range']} is not allowed")
        return r

    safe_builtins = {name: getattr(builtins, name) for name in request["builtins"]}
    safe_builtins.update(print=safe_print, range=safe_range)
    scope = {"__builtins__": safe_builtins, **{name: remote(name) for name in API_NAMES}}

    code = compile(request["source"], "<program>", "exec")
    _limit(resource.RLIMIT_AS, request["memory_mb"] * 1024 * 1024)
    _limit(resource.RLIMIT_FSIZE, 0)
    _limit(resource.RLIMIT_NPROC, 0)
    soft_cpu = int(resource.getrusage(resource.RUSAGE_SELF).ru_utime) + request["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (soft_cpu, soft_cpu + 1))
    sys.setrecursionlimit(200)

    def failed(kind, exc):
        line = ""
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<program>":
                line = str(tb.tb_lineno)
            tb = tb.tb_next
        prefix = (
            f"line {line}"
            if isinstance(exc, ProgramError)
            else f"{type(exc).__name__}{line and f' (line {line})'}"
        )
        message = f"{prefix}: {exc}"[:MAX_MESSAGE_CHARS]
        return {"failed": kind, "message": message, "log": log}

    try:
        exec(code, scope)
        result = {"done": {"log": log}}
    except ProgramError as exc:
        result = failed("api", exc)
    except OutputLimitError as exc:
        result = failed("output", exc)
    except MemoryError as exc:
        log.clear()
        result = failed("memory", exc)
    except RecursionError as exc:
        result = failed("recursion", exc)
    except Exception as exc:
        result = failed("runtime", exc)
    sys.setrecursionlimit(1000)
    send(result)


if __name__ == "__main__":
    main()
