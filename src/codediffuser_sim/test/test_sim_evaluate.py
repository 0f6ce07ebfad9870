import json

import numpy as np
import pytest

from codediffuser_perception.types import ActionChunk
from codediffuser_sim.env import SimConfig
from codediffuser_sim.evaluate import (
    EvalConfig,
    ExpertPolicy,
    evaluate,
    markdown_table,
    summarize,
    write_report,
)

PHYSICS_ONLY = SimConfig(render=False)


def hold_still(env, obs):
    return obs.joint_pos.astype(np.float64)


def test_expert_policy_succeeds_and_a_still_policy_does_not(tmp_path):
    config = EvalConfig(["stow_books"], ["none"], episodes=1, seed=3)
    expert = evaluate(ExpertPolicy(), config, PHYSICS_ONLY)
    still = evaluate(
        hold_still, EvalConfig(["stow_books"], ["none"], episodes=1, seed=3, max_steps=3), PHYSICS_ONLY
    )
    assert expert[0].success is True
    assert expert[0].end == "success"
    assert still[0].success is False
    assert still[0].end == "timeout"
    assert still[0].steps == 3
    assert expert[0].instruction == still[0].instruction  # same seeds for every policy
    rows = summarize(expert + still)
    assert rows[0]["episodes"] == 2
    assert rows[0]["success_rate"] == pytest.approx(0.5)
    assert "| stow_books | none | 2 | 50% |" in markdown_table(rows)
    json_path, md_path = write_report(expert + still, tmp_path)
    assert json.loads(json_path.read_text())["summary"] == rows
    assert md_path.read_text().startswith("| task |")


def test_action_chunks_run_through_ik():
    def hold_pose(env, obs):
        return ActionChunk(np.repeat(obs.ee_pose[None], 2, axis=0))

    results = evaluate(
        hold_pose, EvalConfig(["pack_battery"], ["both"], episodes=1, max_steps=4), PHYSICS_ONLY
    )
    assert results[0].steps == 4
    assert results[0].end == "timeout"


def test_unreachable_actions_end_the_episode():
    def too_far(env, obs):
        action = obs.ee_pose.copy()
        action[0] = 2.0  # 2 m in front of the left arm
        return ActionChunk(action[None])

    results = evaluate(too_far, EvalConfig(["pack_battery"], ["none"], episodes=1, max_steps=4), PHYSICS_ONLY)
    assert results[0].end.startswith("unreachable")
    assert results[0].success is False


@pytest.mark.slow
@pytest.mark.render
def test_video_is_written(tmp_path):
    import imageio.v2 as imageio

    config = EvalConfig(["pack_battery"], ["none"], episodes=1, max_steps=2, video_dir=tmp_path)
    results = evaluate(hold_still, config, PHYSICS_ONLY)
    frames = imageio.mimread(results[0].video)
    assert len(frames) == 3
    assert frames[0].shape[:2] == (240, 320)
