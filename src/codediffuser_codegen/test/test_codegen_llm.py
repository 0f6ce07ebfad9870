import time

import numpy as np
import pytest

from codediffuser_codegen.api import PerceptionAPI, SelectionError
from codediffuser_codegen.llm import LlmClient, LlmConfig, LlmError, LlmProgramWriter, VlmNameSelector
from codediffuser_codegen.observation import Observation
from codediffuser_codegen.oracle import match_metadata, metadata_detector
from codediffuser_codegen.pipeline import run_instruction
from codediffuser_codegen.program import GenerationError, extract_program
from codediffuser_codegen.sandbox import Sandbox
from codediffuser_perception.fusion import FusionConfig, fuse_views
from codediffuser_perception.synthetic import Box, SyntheticScene, four_view_rig

GOOD = """batteries = detect("battery")
slots = detect("slot")
slot = sel_pos(slots, "front left")
battery = sel_name(batteries, "blue battery")
attend(battery, slot)"""
BAD_IMPORT = "```python\nimport os\nattend(detect('battery')[0])\n```"


def _client(stub, **kw):
    config = {
        "model": "stub-vlm",
        "base_url": stub.base_url,
        "timeout_s": 5.0,
        "retries": 2,
        "backoff_s": 0.01,
    }
    return LlmClient(LlmConfig(**(config | kw)))


@pytest.fixture(scope="module")
def scene():
    """Two batteries and a 2 × 2 tray, rendered by four small cameras and fused (object ids kept)."""
    boxes = [
        Box(1, "battery", (-0.1, -0.12, 0.04), (0.03, 0.03, 0.08), (220, 30, 30)),
        Box(2, "battery", (0.1, -0.12, 0.04), (0.03, 0.03, 0.08), (40, 70, 220)),
        Box(3, "slot", (-0.05, 0.1, 0.01), (0.04, 0.04, 0.02), (90, 90, 90)),
        Box(4, "slot", (0.0, 0.1, 0.01), (0.04, 0.04, 0.02), (90, 90, 90)),
        Box(5, "slot", (-0.05, 0.16, 0.01), (0.04, 0.04, 0.02), (90, 90, 90)),
        Box(6, "slot", (0.0, 0.16, 0.01), (0.04, 0.04, 0.02), (90, 90, 90)),
    ]
    views = four_view_rig(SyntheticScene(boxes), width=96, height=72)
    cloud = fuse_views(views, FusionConfig(workspace_min=(-0.3, -0.3, 0.001), voxel_size_m=0.006))
    objects = {
        1: {"category": "battery", "name": "red battery", "color": "red"},
        2: {"category": "battery", "name": "blue battery", "color": "blue"},
        3: {"category": "slot", "name": "slot front-1", "row": "front", "column": "1"},
        4: {"category": "slot", "name": "slot front-2", "row": "front", "column": "2"},
        5: {"category": "slot", "name": "slot back-1", "row": "back", "column": "1"},
        6: {"category": "slot", "name": "slot back-2", "row": "back", "column": "2"},
    }
    return Observation(cloud=cloud, objects=objects)


def _api(scene, name_backend=match_metadata):
    return PerceptionAPI(scene.cloud, metadata_detector(scene.objects), name_backend)


def test_program_from_a_chatty_reply(stub, scene):
    stub.script = [f"Sure! Here is the program:\n```python\n{GOOD}\n```\nIt picks the blue battery."]
    result = run_instruction(
        "pack the blue battery into the front left slot",
        _api(scene),
        LlmProgramWriter(_client(stub)),
        Sandbox(),
    )
    assert result.success, result.message
    assert [i.id for i in result.attended] == [2, 3]
    assert result.attempts == 1
    (request,) = stub.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test-key"
    assert request["model"] == "stub-vlm"
    assert request["temperature"] == 0.0
    system, user = request["messages"]
    assert "sel_pos(instances, relation" in system["content"]
    assert "Scene: Pack Battery" in user["content"]  # the task's scene and examples only
    assert "Scene: Hang Mug" not in user["content"]
    assert user["content"].endswith(
        "Instruction: pack the blue battery into the front left slot\nWrite the program."
    )


def test_server_errors_are_retried_with_backoff(stub, scene):
    stub.script = [500, 503, f"```python\n{GOOD}\n```"]
    result = run_instruction(
        "pack the blue battery into the front left slot",
        _api(scene),
        LlmProgramWriter(_client(stub)),
        Sandbox(),
    )
    assert result.success, result.message
    assert len(stub.requests) == 3


def test_persistent_server_errors_are_a_clear_failure(stub, scene):
    stub.script = [500, 500, 500]
    result = run_instruction("pack a battery", _api(scene), LlmProgramWriter(_client(stub)), Sandbox())
    assert not result.success
    assert result.error_type == "LlmError"
    assert "failed 3 times" in result.message
    assert len(stub.requests) == 3


def test_client_errors_are_not_retried(stub):
    stub.script = [400]
    with pytest.raises(LlmError, match="refused the request"):
        _client(stub).complete([{"role": "user", "content": "hi"}])
    assert len(stub.requests) == 1


def test_timeouts_are_retried_then_reported(stub):
    stub.script = [("sleep", 1.0, "late"), ("sleep", 1.0, "late")]
    started = time.monotonic()
    with pytest.raises(LlmError, match="Timeout"):
        _client(stub, timeout_s=0.2, retries=1).complete([{"role": "user", "content": "hi"}])
    assert time.monotonic() - started < 3.0


def test_malformed_code_is_repaired_with_the_error(stub, scene):
    stub.script = [
        BAD_IMPORT,
        "I cannot write code.",
        f"```python\n{GOOD}\n```",
    ]
    result = run_instruction(
        "pack the blue battery into the front left slot",
        _api(scene),
        LlmProgramWriter(_client(stub)),
        Sandbox(),
    )
    assert result.success, result.message
    assert result.attempts == 2  # the prose-only reply was never run
    first_repair = stub.requests[1]["messages"]
    assert first_repair[-2] == {"role": "assistant", "content": BAD_IMPORT}
    assert "Import is not allowed" in first_repair[-1]["content"]
    assert "no ```python block" in stub.requests[2]["messages"][-1]["content"]


def test_repairs_are_bounded(stub, scene):
    bad = "```python\nb = detect('battery')\nattend(sel_name(b, 'green battery'))\n```"
    stub.script = [bad, bad, bad, bad]
    result = run_instruction(
        "pack the green battery", _api(scene), LlmProgramWriter(_client(stub)), Sandbox(), max_repairs=2
    )
    assert not result.success
    assert len(stub.requests) == 3
    assert result.attempts == 3
    assert "no candidate matches 'green battery'" in result.message
    assert result.error_type == "ProgramRuntimeError"


def test_vlm_sel_name_sends_the_composite_and_validates_the_number(stub, scene):
    selector = VlmNameSelector(_client(stub), tile_width=96)
    api = _api(scene, selector)
    batteries = api.detect("battery")
    stub.script = ["Box 2."]
    assert api.sel_name(batteries, "blue battery").id == 2
    user = stub.requests[-1]["messages"][1]["content"]
    assert user[0]["type"] == "text"
    assert "blue battery" in user[0]["text"]
    assert user[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert selector.last_image.size == (192, 144)  # 2 × 2 tiles of 96 × 72
    for answer, match in [("7", "there are 2"), ("none of them", "not a box number"), ("0", "no matching")]:
        stub.script = [answer]
        with pytest.raises(SelectionError, match=match):
            api.sel_name(batteries, "blue battery")


def test_ambiguity_the_vlm_cannot_resolve_is_a_clear_result(stub, scene):
    stub.script = [f"```python\n{GOOD}\n```", "0"]
    result = run_instruction(
        "pack the blue battery into the front left slot",
        _api(scene, VlmNameSelector(_client(stub), tile_width=96)),
        LlmProgramWriter(_client(stub)),
        Sandbox(),
        max_repairs=0,
    )
    assert not result.success
    assert "sees no matching candidate" in result.message


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("CODEDIFFUSER_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LlmError, match="no API key"):
        LlmClient(LlmConfig())
    with pytest.raises(ValueError, match="timeout_s"):
        LlmConfig(timeout_s=0)


def test_extract_program_variants():
    assert extract_program(f"```py\n{GOOD}\n```") == GOOD + "\n"
    assert extract_program(f"Here you go:\n{GOOD}\nDone, this attends the battery.") == GOOD + "\n"
    two = "First:\n```python\nb = detect('mug')\n```\nthen\n```\nattend(b[0])\n```"
    assert extract_program(two) == "b = detect('mug')\nattend(b[0])\n"
    with pytest.raises(GenerationError, match="no code"):
        extract_program("```json\n{}\n```")
    with pytest.raises(GenerationError, match="empty"):
        extract_program("")


def test_bad_instructions_never_raise(scene):
    from codediffuser_codegen.pipeline import OfflineWriter

    for text, match in [
        ("", "empty"),
        ("a" * 500, "longer"),
        ("juggle the balls", "no task word"),
        (None, "text"),
    ]:
        result = run_instruction(text, _api(scene), OfflineWriter(), Sandbox())
        assert not result.success
        assert match in result.message
    result = run_instruction("pack the purple battery", _api(scene), OfflineWriter(), Sandbox())
    assert not result.success
    assert "no candidate matches 'purple battery'" in result.message


def test_scene_fusion_kept_object_ids(scene):
    assert set(np.unique(scene.cloud.object_ids)) >= {1, 2, 3, 4, 5, 6}
