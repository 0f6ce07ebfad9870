import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from codediffuser_policy.safety import COMMAND_DIM, SafetyConfig, SafetyLayer, SafetyViolation

LOWER = np.array([-3.1, -1.8, -1.6, -3.1, -1.7, -3.1])
UPPER = np.array([3.1, 1.2, 1.5, 3.1, 2.2, 3.1])
BOX_MIN = np.array([-1.5, -1.0, 0.0])
BOX_MAX = np.array([1.5, 1.0, 1.0])


class ToyArm:
    """A stand-in arm model (planar 2-link on joints 1, 2, base at x = offset) that can leave the box."""

    lower, upper = LOWER, UPPER

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def fk_world(self, q: np.ndarray) -> np.ndarray:
        T = np.eye(4)
        T[0, 3] = self.offset + 0.4 * np.cos(q[1]) + 0.4 * np.cos(q[1] + q[2])
        T[2, 3] = 0.3 + 0.4 * np.sin(q[1]) + 0.4 * np.sin(q[1] + q[2])
        return T


def _layer(**overrides):
    config = SafetyConfig(workspace_min=BOX_MIN, workspace_max=BOX_MAX, **overrides)
    return SafetyLayer(config, {"left": ToyArm(-0.5), "right": ToyArm(0.5)})


HOME = np.zeros(COMMAND_DIM)
HOME[[6, 13]] = 1.0


def _violates(layer: SafetyLayer, previous: np.ndarray, sent: np.ndarray) -> list[str]:
    lim = layer.config
    problems = []
    for arm in (slice(0, 6), slice(7, 13)):
        q = sent[arm]
        if np.any(q < LOWER + lim.joint_margin_rad - 1e-9) or np.any(q > UPPER - lim.joint_margin_rad + 1e-9):
            problems.append("joint limit")
        if np.any(np.abs(q - previous[arm]) > layer.max_step_rad() + 1e-9):
            problems.append("velocity")
    if np.any(sent[[6, 13]] < lim.gripper_min) or np.any(sent[[6, 13]] > lim.gripper_max):
        problems.append("gripper")
    for side, arm in (("left", slice(0, 6)), ("right", slice(7, 13))):
        p = layer._models[side].fk_world(sent[arm])[:3, 3]
        if np.any(p < lim.workspace_min) or np.any(p > lim.workspace_max):
            problems.append("workspace")
    if not np.all(np.isfinite(sent)):
        problems.append("non-finite")
    return problems


command_values = st.one_of(
    st.floats(-10, 10),
    st.sampled_from([np.nan, np.inf, -np.inf, 1e9, -1e9]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunk=arrays(np.float64, st.tuples(st.integers(1, 12), st.just(COMMAND_DIM)), elements=command_values))
def test_fuzzed_chunks_never_emit_a_violation(chunk):
    layer = _layer()
    layer.start(HOME)
    for command in chunk:
        previous = layer.last_command
        try:
            sent = layer.filter(command)
        except SafetyViolation:
            np.testing.assert_array_equal(layer.last_command, previous)  # a rejection changes nothing
            continue
        assert _violates(layer, previous, sent) == []


def test_clamps_position_velocity_and_gripper():
    layer = _layer()
    layer.start(HOME)
    target = HOME.copy()
    target[0] = 100.0  # far beyond the waist limit
    target[6] = 1.7  # gripper above range
    sent = layer.filter(target)
    assert sent[0] == pytest.approx(layer.max_step_rad())
    assert sent[6] == 1.0
    assert layer.filter(target, period_s=0.1)[0] == pytest.approx(6 * layer.max_step_rad())  # 0.02 + 0.1 s
    for _ in range(500):
        sent = layer.filter(target)
    assert sent[0] == pytest.approx(UPPER[0] - layer.config.joint_margin_rad)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_is_rejected(bad):
    layer = _layer()
    layer.start(HOME)
    command = HOME.copy()
    command[3] = bad
    with pytest.raises(SafetyViolation, match="NaN or inf"):
        layer.filter(command)


def test_workspace_exit_is_rejected():
    layer = _layer(max_joint_velocity_rad_s=100.0)
    layer.start(HOME)
    down = HOME.copy()
    down[1] = -1.5  # the toy arm reaches below the table (z < 0)
    with pytest.raises(SafetyViolation, match="outside the workspace"):
        layer.filter(down)
    np.testing.assert_array_equal(layer.last_command, HOME)


def test_estop_latches_until_reset():
    layer = _layer()
    layer.start(HOME)
    layer.estop()
    for _ in range(3):
        with pytest.raises(SafetyViolation, match="e-stop"):
            layer.filter(HOME)
    layer.reset_estop(HOME)
    np.testing.assert_array_equal(layer.filter(HOME), HOME)


def test_needs_a_start_state_within_hard_limits():
    layer = _layer()
    with pytest.raises(SafetyViolation, match="start"):
        layer.filter(HOME)
    outside = HOME.copy()
    outside[2] = 2.0
    with pytest.raises(SafetyViolation, match="hard joint limits"):
        layer.start(outside)


def test_start_inside_margin_is_walked_back_never_further_out():
    layer = _layer()
    start = HOME.copy()
    start[4] = UPPER[4] - 0.01  # inside the hard limit, beyond the 0.05 margin
    layer.start(start)
    sent = layer.filter(start)
    assert sent[4] < start[4]
    assert start[4] - sent[4] <= layer.max_step_rad() + 1e-12


def test_check_starts_from_the_measured_state():
    layer = _layer()
    measured = HOME.copy()
    measured[0] = 0.3
    sent = layer.check(HOME, measured, period_s=0.02)
    assert sent[0] == pytest.approx(0.3 - layer.max_step_rad())
    sent = layer.check(HOME, measured, period_s=0.02)  # afterwards the last command is the reference
    assert sent[0] == pytest.approx(0.3 - 2 * layer.max_step_rad())


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="margin"):
        SafetyConfig(LOWER, LOWER + 0.05)
    with pytest.raises(ValueError, match="gripper"):
        SafetyConfig(LOWER, UPPER, gripper_min=0.8, gripper_max=0.2)
    with pytest.raises(ValueError, match="both"):
        SafetyConfig(joint_lower=LOWER)


def test_from_kinematics_uses_the_vx300s_model():
    from codediffuser_policy.kinematics import load_arm_model

    layer = SafetyLayer.from_kinematics(SafetyConfig(workspace_min=(-2, -2, -1), workspace_max=(2, 2, 2)))
    model = load_arm_model("left")
    np.testing.assert_allclose(layer.config.joint_lower, model.lower)
    home = np.concatenate([model.home, [1.0], load_arm_model("right").home, [1.0]])
    layer.start(home)
    np.testing.assert_allclose(layer.filter(home), home)
