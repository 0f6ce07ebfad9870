"""The demo's grounding step without rendering: layouts from the task sampler, point-sampled clouds."""

import random
from types import SimpleNamespace

import numpy as np
import pytest

from codediffuser.e2e_episode import EpisodeError, TrackedAttention, ground_instruction, scene_metadata
from codediffuser_codegen.llm import LlmConfig
from codediffuser_codegen.observation import observation_from_objects
from codediffuser_codegen.sandbox import Sandbox
from codediffuser_sim.instructions import generate_instruction
from codediffuser_sim.tasks.pack_battery import sample_layout


def _scene(seed: int, level: str):
    objects = sample_layout(seed)
    env = SimpleNamespace(
        objects=objects, instruction=generate_instruction("pack_battery", objects, level, random.Random(seed))
    )
    cloud = observation_from_objects(objects, np.random.default_rng(seed)).cloud
    return env, cloud


@pytest.mark.parametrize("level", ["none", "object", "target", "both"])
def test_offline_grounding_of_the_simulators_instruction_is_correct(level):
    env, cloud = _scene(3, level)
    grounding = ground_instruction(env, cloud, env.instruction.text, Sandbox())
    assert grounding.result.success, grounding.result.message
    assert grounding.correct is True
    assert len(grounding.attended_ids) == 2
    assert env.instruction.is_correct(*grounding.attended_ids)
    assert "attend(" in grounding.result.program


def test_a_users_instruction_is_grounded_but_not_judged():
    env, cloud = _scene(3, "none")
    grounding = ground_instruction(env, cloud, "pack a battery into the front left slot", Sandbox())
    assert grounding.result.success
    assert grounding.correct is None
    slot = next(o for o in env.objects if o.id == grounding.attended_ids[1])
    assert slot.name == "slot front-1"


def test_outside_the_grammar_is_reported_not_raised():
    env, cloud = _scene(3, "none")
    grounding = ground_instruction(env, cloud, "make me a sandwich", Sandbox())
    assert not grounding.result.success
    assert grounding.attended_ids == ()
    assert grounding.result.message


def test_an_unreachable_endpoint_is_reported_not_raised():
    env, cloud = _scene(3, "both")
    llm = LlmConfig(model="m", base_url="http://127.0.0.1:9/v1", retries=0, timeout_s=2.0, max_repairs=0)
    grounding = ground_instruction(env, cloud, env.instruction.text, Sandbox(), llm)
    assert not grounding.result.success
    assert grounding.result.error_type == "LlmError"


def test_tracked_attention_refuses_ids_outside_the_scene():
    env, _ = _scene(3, "none")
    with pytest.raises(EpisodeError, match="not objects of this scene"):
        TrackedAttention(scene_metadata(env), [999])
