import mujoco
import numpy as np
import pytest

from codediffuser_policy.kinematics import (
    GRIPPER_MOTOR_CLOSED_RAD,
    GRIPPER_MOTOR_OPEN_RAD,
    UnreachablePose,
    arm_urdf_path,
    convert_gripper,
    load_arm_model,
)
from codediffuser_policy.robot_mjcf import aloha_mjcf_path, load_arm_spec


@pytest.fixture(scope="module")
def mj():
    model = mujoco.MjModel.from_xml_path(str(aloha_mjcf_path()))
    return model, mujoco.MjData(model)


@pytest.mark.parametrize("side", ["left", "right"])
def test_fk_matches_mujoco(mj, side):
    model, data = mj
    arm = load_arm_model(side)
    tcp = load_arm_spec(side).tcp_offset_m
    mid = 0.5 * (model.body("vx300s_left").pos + model.body("vx300s_right").pos)
    rng = np.random.default_rng(3)
    for _ in range(20):
        q = rng.uniform(arm.lower, arm.upper)
        data.qpos[:] = 0
        for name, value in zip(arm.joint_names, q, strict=True):
            data.qpos[model.jnt_qposadr[model.joint(f"vx300s_{side}/{name}").id]] = value
        mujoco.mj_kinematics(model, data)
        body = model.body(f"vx300s_{side}/gripper_link").id
        R = data.xmat[body].reshape(3, 3)
        p_tcp = data.xpos[body] + R[:, 0] * tcp - mid
        T = arm.fk_world(q)
        assert np.linalg.norm(T[:3, 3] - p_tcp) < 1e-6
        assert np.allclose(T[:3, :3], R, atol=1e-6)


@pytest.mark.parametrize("side", ["left", "right"])
def test_ik_round_trip_below_1mm(side):
    arm = load_arm_model(side)
    rng = np.random.default_rng(7)
    for _ in range(15):
        q = rng.uniform(arm.lower, arm.upper)
        T = arm.fk(q)
        q_ik = arm.ik(T, q0=np.clip(q + rng.normal(0, 0.3, 6), arm.lower, arm.upper))
        assert np.all(q_ik >= arm.lower)
        assert np.all(q_ik <= arm.upper)
        T_ik = arm.fk(q_ik)
        assert np.linalg.norm(T_ik[:3, 3] - T[:3, 3]) < 1e-3
        assert np.allclose(T_ik[:3, :3], T[:3, :3], atol=2e-3)


def test_ik_from_default_start_reaches_a_grasp_pose():
    arm = load_arm_model("left")
    T = np.eye(4)
    T[:3, :3] = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # fingers pointing down
    T[:3, 3] = [0.35, 0.1, 0.05]
    q = arm.ik(T)
    assert np.linalg.norm(arm.fk(q)[:3, 3] - T[:3, 3]) < 1e-3


def test_unreachable_pose_raises_typed_error():
    arm = load_arm_model("right")
    T = np.eye(4)
    T[:3, 3] = [1.5, 0.0, 0.3]
    with pytest.raises(UnreachablePose, match="cannot reach"):
        arm.ik(T, restarts=2)


def test_bad_inputs_raise_value_error():
    arm = load_arm_model("left")
    with pytest.raises(ValueError, match="shape"):
        arm.fk(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        arm.fk(np.full(6, np.nan))
    with pytest.raises(ValueError, match="finite"):
        arm.ik(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="side"):
        load_arm_model("middle")


def test_limits_come_from_the_mjcf():
    arm = load_arm_model("left")
    assert arm.joint_names == ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")
    assert arm.lower[1] == pytest.approx(-1.85005)
    assert arm.upper[2] == pytest.approx(1.6057)
    assert (arm.finger_lower, arm.finger_upper) == (pytest.approx(0.021), pytest.approx(0.057))
    assert np.allclose(load_arm_model("right").base_pose[:3, 3], [0.469, 0, 0])
    assert np.allclose(arm.base_pose[:3, 3], [-0.469, 0, 0])


def test_gripper_conversion_round_trips_and_end_points():
    assert convert_gripper(0.0, "normalized", "motor_rad") == pytest.approx(GRIPPER_MOTOR_CLOSED_RAD)
    assert convert_gripper(1.0, "normalized", "motor_rad") == pytest.approx(GRIPPER_MOTOR_OPEN_RAD)
    assert convert_gripper(0.0, "normalized", "finger_m") == pytest.approx(0.021)
    assert convert_gripper(0.057, "finger_m", "normalized") == pytest.approx(1.0)
    values = np.linspace(0, 1, 11)
    back = convert_gripper(convert_gripper(values, "normalized", "finger_m"), "finger_m", "motor_rad")
    assert np.allclose(convert_gripper(back, "motor_rad", "normalized"), values)
    assert convert_gripper(2.0, "motor_rad", "normalized") == pytest.approx(1.0)  # clipped at the end stop
    with pytest.raises(ValueError, match="unit"):
        convert_gripper(0.5, "normalized", "degrees")
    with pytest.raises(ValueError, match="finite"):
        convert_gripper(np.nan, "normalized", "finger_m")


def test_urdf_is_generated_with_all_joints(tmp_path, monkeypatch):
    import xml.etree.ElementTree as ET

    monkeypatch.setenv("CODEDIFFUSER_CACHE", str(tmp_path))
    path = arm_urdf_path("right")
    assert path.is_relative_to(tmp_path)
    root = ET.parse(path).getroot()
    joints = {j.get("name"): j for j in root.iter("joint")}
    for name in ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate"):
        assert joints[name].get("type") == "revolute"
    assert joints["left_finger"].get("type") == "prismatic"
    meshes = [m.get("filename") for m in root.iter("mesh")]
    assert meshes
    assert all(m.endswith(".stl") for m in meshes)
    assert arm_urdf_path("right") == path  # cached, not rewritten
