"""policy_node's pure parts: joint plan interpolation, end-effector state, action chunk → joints by IK."""

import numpy as np
import pytest

from codediffuser.testing import fake_ros
from codediffuser_perception.types import ActionChunk
from codediffuser_policy.kinematics import UnreachablePose, joints_to_action, load_arm_model

with fake_ros():
    from codediffuser_policy.node import SIDES, JointPlan, chunk_to_joints


@pytest.fixture(scope="module")
def models():
    return {side: load_arm_model(side) for side in SIDES}


def _home(models, gripper=1.0):
    return np.concatenate([np.append(models[s].home, gripper) for s in SIDES])


def test_plan_interpolates_from_the_measured_joints_and_holds_at_the_end():
    q0 = np.zeros(14)
    targets = np.stack([np.full(14, 1.0), np.full(14, 3.0)])
    plan = JointPlan(start_s=10.0, dt_s=0.1, q0=q0, targets=targets)
    np.testing.assert_allclose(plan.at(10.0), 0.0)
    np.testing.assert_allclose(plan.at(10.05), 0.5)
    np.testing.assert_allclose(plan.at(10.1), 1.0)
    np.testing.assert_allclose(plan.at(10.15), 2.0)
    np.testing.assert_allclose(plan.at(11.0), 3.0)
    np.testing.assert_allclose(plan.at(9.0), 0.0)
    assert plan.end_s == pytest.approx(10.2)


def test_agent_pos_is_the_fk_pose_in_the_action_layout(models):
    q = _home(models, gripper=0.25)
    pos = joints_to_action(models, q)
    assert pos.shape == (20,)
    np.testing.assert_allclose(pos[:3], models["left"].fk(models["left"].home)[:3, 3], atol=1e-6)
    assert pos[9] == pytest.approx(0.25)
    assert pos[19] == pytest.approx(0.25)


def test_chunk_to_joints_reaches_every_pose_of_the_chunk(models):
    q = _home(models)
    start = joints_to_action(models, q)
    actions = np.stack(
        [start + np.tile([0.01 * k, 0, -0.01 * k, 0, 0, 0, 0, 0, 0, -0.2 * k], 2) for k in (1, 2)]
    )
    targets = chunk_to_joints(models, ActionChunk(actions.astype(np.float32), dt_s=0.1), q)
    assert targets.shape == (2, 14)
    for k in range(2):
        reached = joints_to_action(models, targets[k])
        np.testing.assert_allclose(reached, actions[k], atol=2e-3)


def test_unreachable_chunk_raises(models):
    q = _home(models)
    far = joints_to_action(models, q)
    far[:3] += 5.0  # 5 m away
    with pytest.raises(UnreachablePose):
        chunk_to_joints(models, ActionChunk(far[None], dt_s=0.1), q)
