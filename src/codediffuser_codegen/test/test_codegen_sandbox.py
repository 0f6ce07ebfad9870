import os
import resource
import time

import numpy as np
import pytest

from codediffuser_codegen.api import PerceptionAPI
from codediffuser_codegen.observation import observation_from_objects
from codediffuser_codegen.oracle import match_metadata, metadata_detector
from codediffuser_codegen.sandbox import (
    CpuLimitError,
    MemoryLimitError,
    OutputLimitError,
    ProgramRuntimeError,
    ResourceLimitError,
    Sandbox,
    SandboxError,
    SandboxLimits,
    TimeLimitError,
    ValidationError,
    validate_program,
)
from codediffuser_sim.instructions import SceneObject

OBJECTS = [
    SceneObject(1, "battery", "red battery", (-0.1, -0.1, 0.02), {"color": "red"}),
    SceneObject(2, "battery", "blue battery", (0.1, -0.1, 0.02), {"color": "blue"}),
    SceneObject(
        3, "slot", "slot front-1", (-0.05, 0.1, 0.01), {"row": "front", "column": "1", "occupied": "true"}
    ),
    SceneObject(
        4, "slot", "slot front-2", (0.0, 0.1, 0.01), {"row": "front", "column": "2", "occupied": "false"}
    ),
]
GOOD = """batteries = detect("battery")
slots = detect("slot")
slot = sel_name(slots, "free slot")
battery = sel_pos(batteries, "nearest", slot)
print(battery, [round(v, 2) for v in battery.centroid])
attend(battery, slot)
"""

# Every program must be refused before running (static allow-list).
REFUSED = {
    "import": "import os",
    "from import": "from os import system",
    "dunder import": "__import__('os').system('true')",
    "class mro walk": "().__class__.__mro__[1].__subclasses__()",
    "function globals": "x = detect.__globals__",
    "builtin self": "m = print.__self__",
    "format attribute trick": "'{0.__class__.__base__}'.format(1)",
    "format_map trick": "'{x.__class__}'.format_map({'x': 1})",
    "f-string dunder": "x = 1\ny = f'{x.__class__}'",
    "f-string format spec bomb": "y = f'{1:{10**9}}'",
    "exec": "exec('import os')",
    "eval": "eval('1')",
    "compile": "compile('1', 'x', 'eval')",
    "open": "open('/etc/passwd')",
    "getattr": "getattr(detect, '__globals__')",
    "setattr": "setattr(detect, 'x', 1)",
    "globals": "g = globals()",
    "locals": "l = locals()",
    "vars": "v = vars()",
    "builtins name": "b = __builtins__",
    "type gadget": "t = type(1)",
    "while true": "while True:\n    pass",
    "try": "try:\n    x = 1\nexcept Exception:\n    pass",
    "class": "class A:\n    pass",
    "with": "with x:\n    pass",
    "yield": "f = lambda: (yield)",
    "global": "def f():\n    global x",
    "delete": "x = 1\ndel x",
    "rebind api": "detect = lambda c: []",
    "private attribute": "x = detect('battery')[0]._secret",
    "attribute store": "b = detect('battery')[0]\nb.id = 7",
    "bytes": "x = b'abc'",
    "async": "async def f():\n    pass",
    "decorator": "@attend\ndef f():\n    pass",
    "deep nesting": "x = " + "-" * 500 + "1",
    "nested parentheses": "x = " + "(" * 300 + "1" + ")" * 300,
    "huge source": "x = 1\n" * 5000,
    "not python": "pick the red battery",
    "empty": "   ",
    "fullwidth eval (NFKC)": "\uff45\uff56\uff41\uff4c('1')",
    "fullwidth dunder (NFKC)": "x = \uff3f\uff3fimport\uff3f\uff3f('os')",
    "generator frame": "g = (x for x in [])\nf = g.gi_frame",
}

# Every program runs and must be contained: a typed error, a bounded time.
CONTAINED = {
    "range bomb": ("for i in range(10**9):\n    pass", ProgramRuntimeError),
    "big power": ("x = 10**10**8", ResourceLimitError),  # CPU or wall clock, whichever ends first
    "list bomb": ("a = [0] * 10**9", MemoryLimitError),
    "string bomb": ("s = 'x' * 10**10", MemoryLimitError),
    "doubling": ("x = [1]\nfor i in range(100):\n    x = x + x", MemoryLimitError),
    "nested loops": (
        "n = 0\nfor i in range(10000):\n    for j in range(10000):\n        n = n + 1",
        ResourceLimitError,
    ),
    "huge print": ("print('x' * 100000)", OutputLimitError),
    "many prints": ("for i in range(10000):\n    print('y' * 100)", OutputLimitError),
    "lambda recursion": ("f = lambda f: f(f)\nf(f)", MemoryLimitError),
    "def recursion": ("def f(n):\n    return f(n + 1)\nf(0)", MemoryLimitError),
    "api flood": ("for i in range(10000):\n    detect('battery')", OutputLimitError),
    "long description": ("sel_name(detect('battery'), 'x' * 1000)", ProgramRuntimeError),
    "huge call message": ("sel_name(detect('battery'), 'x' * 10**6)", OutputLimitError),
    "attend non-instance": ("attend(1)", ProgramRuntimeError),
    "huge key error": ("d = {}\nx = d['k' * 10**7]", ProgramRuntimeError),
    "int digits": ("x = int('9' * 5000)", ProgramRuntimeError),
    "memory via sort keys": ("y = sorted(range(10000), key=lambda x: [x] * 10000)", MemoryLimitError),
    "forged instance": ("attend([{'ref': 1}])", ProgramRuntimeError),
    "unknown category": ("detect('spaceship')", ProgramRuntimeError),
    "name error": ("attend(battery)", ProgramRuntimeError),
}


@pytest.fixture(scope="module")
def scene():
    return observation_from_objects(OBJECTS, np.random.default_rng(0))


def _api(scene):
    return PerceptionAPI(scene.cloud, metadata_detector(scene.objects), match_metadata)


@pytest.fixture(scope="module")
def sandbox():
    return Sandbox(SandboxLimits(wall_s=3.0, cpu_s=1, memory_mb=256))


def test_a_good_program_runs(scene, sandbox):
    result = sandbox.run(GOOD, _api(scene))
    assert [i.id for i in result.attended] == [2, 4]
    assert any(line.startswith("print: Instance(id=2") for line in result.log)
    assert any("sel_name" in line for line in result.log)


def test_programs_may_compare_instances_themselves(scene, sandbox):
    program = (
        "b = detect('battery')\n"
        "right = max(b, key=lambda i: i.centroid[0])\n"
        "near = sorted(detect('slot'), key=lambda s: abs(s.centroid[0] - right.centroid[0]))[0]\n"
        "attend(right, near)"
    )
    assert [i.id for i in sandbox.run(program, _api(scene)).attended] == [2, 4]


def test_corpus_size():
    assert len(REFUSED) + len(CONTAINED) >= 30


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_hostile_programs_are_refused(name):
    with pytest.raises(ValidationError) as info:
        validate_program(REFUSED[name])
    assert str(info.value)  # a readable reason


def test_hostile_programs_are_contained_and_the_server_survives(scene, sandbox):
    children_before = _children()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, (source, expected) in CONTAINED.items():
        validate_program(source)  # these pass the static wall: the child must contain them
        with pytest.raises(expected) as info:
            sandbox.run(source, _api(scene))
        assert str(info.value), name
        assert len(str(info.value)) < 5000, name
    for source in REFUSED.values():
        with pytest.raises(ValidationError):
            sandbox.run(source, _api(scene))
    # the serving process is intact: same children, bounded memory, still serving correctly
    assert _children() == children_before
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200_000  # KiB
    assert [i.id for i in sandbox.run(GOOD, _api(scene)).attended] == [2, 4]


def test_cpu_limit_stops_a_busy_child(scene):
    cpu_bound = Sandbox(SandboxLimits(wall_s=60.0, cpu_s=1))
    started = time.monotonic()
    with pytest.raises(CpuLimitError):
        cpu_bound.run("x = 10**10**8", _api(scene))
    assert time.monotonic() - started < 30


def test_wall_clock_limit_stops_a_busy_child(scene):
    quick = Sandbox(SandboxLimits(wall_s=0.5, cpu_s=5))
    with pytest.raises(TimeLimitError):
        quick.run("n = 0\nfor i in range(10000):\n    for j in range(10000):\n        n = n + 1", _api(scene))


def test_time_spent_answering_api_calls_is_not_the_programs(scene):
    def slow_names(cloud, candidates, description):
        time.sleep(0.3)  # a VLM thinking
        return match_metadata(cloud, candidates, description)

    api = PerceptionAPI(scene.cloud, metadata_detector(scene.objects), slow_names)
    program = "b = detect('battery')\nfor c in ['red battery', 'blue battery', 'red battery']:\n    attend(sel_name(b, c))"
    result = Sandbox(SandboxLimits(wall_s=0.5)).run(program, api)
    assert [i.id for i in result.attended] == [1, 2, 1]


def test_api_errors_reach_the_program_with_the_line(scene, sandbox):
    with pytest.raises(ProgramRuntimeError, match=r"line 2: sel_pos: unknown relation 'upwards'") as info:
        sandbox.run("b = detect('battery')\nx = sel_pos(b, 'upwards')", _api(scene))
    assert info.value.log[0].startswith("detect('battery')")


def test_errors_are_typed():
    for cls in (ValidationError, ProgramRuntimeError, CpuLimitError, MemoryLimitError, OutputLimitError):
        assert issubclass(cls, SandboxError)
    with pytest.raises(ValueError, match="cpu_s"):
        SandboxLimits(cpu_s=0)


def _children() -> set[int]:
    path = f"/proc/{os.getpid()}/task/{os.getpid()}/children"
    with open(path) as f:
        return set(f.read().split())
