"""docs/real_robot.md: every command it shows exists and its options parse; topics match the tools."""

import ast
import re
import shlex
from pathlib import Path

import pytest

from codediffuser import cli, import_bag
from codediffuser.calibration_config import load_cameras_config
from codediffuser.interfaces import get_typestore, service_types

REPO = Path(__file__).resolve().parents[3]
DOC = (REPO / "docs" / "real_robot.md").read_text()


def shell_lines() -> list[str]:
    """Commands of the ```bash blocks with backslash continuations joined, plus `codediffuser …` in backticks."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", DOC, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            lines.extend(part.strip() for part in line.split("&&") if part.strip())
    lines += re.findall(r"`(codediffuser [^`]+)`", DOC)
    return lines


def commands(program: str) -> list[list[str]]:
    """Arguments of each invocation of `program` (possibly behind a wrapper such as `timeout -s INT 6`)."""
    found = []
    for line in shell_lines():
        words = shlex.split(line.split("#")[0])
        if program in words and all(
            w in ("timeout", "-s", "INT") or w.isdigit() for w in words[: words.index(program)]
        ):
            found.append(words[words.index(program) + 1 :])
    return found


CODEDIFFUSER = commands("codediffuser")


def test_the_doc_shows_every_step():
    used = {argv[0] for argv in CODEDIFFUSER}
    assert {"calibrate", "import-bag", "label", "annotate", "train"} <= used


@pytest.mark.parametrize("argv", CODEDIFFUSER, ids=[" ".join(a)[:60] for a in CODEDIFFUSER])
def test_codediffuser_commands_exist_and_their_options_parse(argv):
    import importlib

    assert argv[0] in cli.SUBCOMMANDS, f"{argv[0]} is not a codediffuser subcommand"
    module = importlib.import_module(cli.SUBCOMMANDS[argv[0]].target.split(":")[0])
    args = [a.replace("*", "000") for a in argv[1:]]  # a shell glob stands for bag names
    module.build_parser().parse_args(args)  # SystemExit(2) on an unknown or malformed option


def launch_arguments() -> set[str]:
    tree = ast.parse((REPO / "launch" / "real.launch.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id == "ARGUMENTS":
                return {k.value for k in node.value.keys}
    raise AssertionError("launch/real.launch.py declares no ARGUMENTS")


def test_launch_arguments_in_the_doc_are_declared():
    declared = launch_arguments() | {"follower_modes_left", "follower_modes_right"}
    launches = [argv for argv in commands("ros2") if argv[0] == "launch" and argv[1] == "codediffuser"]
    assert launches
    for argv in launches:
        assert argv[2] == "real.launch.py"
        for arg in argv[3:]:
            assert arg.split(":=")[0] in declared, arg


def recorded_topics(output: str) -> list[str]:
    for argv in commands("ros2"):
        if argv[:2] == ["bag", "record"] and output in argv:
            return [a for a in argv if a.startswith("/")]
    raise AssertionError(f"no `ros2 bag record -o {output}` in the doc")


def test_recording_commands_record_exactly_what_the_tools_read():
    cameras = list(load_cameras_config(REPO / "config" / "cameras.yaml").cameras)
    assert sorted(recorded_topics("demos/pack_battery_000")) == sorted(import_bag.required_topics(cameras))
    calibration = import_bag.required_topics(cameras, with_depth=False, with_arms=False)
    assert sorted(recorded_topics("calib_bag")) == sorted(calibration)


def test_serial_metadata_keys_match_the_importer():
    keys = re.findall(r"(camera_serial\.\w+)=<serial>", DOC)
    assert sorted(keys) == [import_bag.SERIAL_KEY_PREFIX + f"cam{i}" for i in range(4)]


def test_service_calls_use_existing_services():
    known = set(service_types(get_typestore()))
    calls = [argv for argv in commands("ros2") if argv[:2] == ["service", "call"]]
    assert {argv[2] for argv in calls} == {"/instruct", "/policy/start", "/policy/stop", "/policy/estop"}
    for argv in calls:
        assert argv[3] in known, argv[3]
