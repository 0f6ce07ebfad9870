import numpy as np
import pytest

from codediffuser_sim.env import TASK_REGISTRY, SimConfig, SimError, make_env
from codediffuser_sim.expert import run_expert
from codediffuser_sim.instructions import CATEGORIES, COLORS
from codediffuser_sim.layout import COLOR_RGB

TASKS = ["pack_battery", "hang_mug", "stow_books"]


@pytest.fixture(scope="module")
def physics_envs():
    return {task: make_env(task, SimConfig(render=False)) for task in TASKS}


@pytest.fixture(scope="module")
def render_env():
    return make_env("pack_battery", SimConfig(render=True, width=96, height=72))


def test_registry_and_unknown_task():
    import codediffuser_sim.tasks  # noqa: F401

    with pytest.raises(SimError, match="unknown task"):
        make_env("fold_laundry")
    assert set(TASKS) <= set(TASK_REGISTRY)


def test_palette_has_a_colour_per_name():
    assert set(COLOR_RGB) == set(COLORS)


@pytest.mark.parametrize("task", TASKS)
def test_layout_is_pure_and_seeded(task):
    import codediffuser_sim.tasks  # noqa: F401

    sample = TASK_REGISTRY[task].sample_layout
    a, b, c = sample(3), sample(3), sample(4)
    assert a == b
    assert a != c
    assert len({o.id for o in a}) == len(a)
    assert all(o.id > 0 for o in a)  # 0 is the segmentation background
    assert all(o.category in CATEGORIES for o in a)


@pytest.mark.parametrize("task", TASKS)
def test_seeded_reset_is_deterministic(physics_envs, task):
    env = physics_envs[task]
    first = env.reset(5, "both")
    poses = {i: env.pose(i) for i in env.actors}
    text = env.instruction.text
    second = env.reset(5, "both")
    assert env.instruction.text == text
    np.testing.assert_allclose(first.joint_pos, second.joint_pos, atol=1e-6)
    for i, pose in poses.items():
        np.testing.assert_allclose(env.pose(i), pose, atol=1e-5)


@pytest.mark.parametrize("task", TASKS)
def test_bad_input_raises_clear_errors(physics_envs, task):
    env = physics_envs[task]
    obs = env.reset(0, "none")
    with pytest.raises(SimError, match="shape"):
        env.step(np.zeros(13))
    with pytest.raises(SimError, match="NaN"):
        env.step(np.full(14, np.nan))
    bad = obs.joint_pos.astype(np.float64).copy()
    bad[1] = 3.0  # left shoulder beyond its upper limit
    with pytest.raises(SimError, match="left shoulder"):
        env.step(bad)
    bad = obs.joint_pos.astype(np.float64).copy()
    bad[13] = 1.5
    with pytest.raises(SimError, match="right gripper"):
        env.step(bad)
    with pytest.raises(SimError, match="level"):
        env.reset(0, "very")
    with pytest.raises(SimError, match="seed"):
        env.reset(-1, "none")
    assert isinstance(SimError("x"), ValueError)


@pytest.mark.parametrize("task", TASKS)
def test_expert_succeeds_and_reset_is_not_success(physics_envs, task):
    env = physics_envs[task]
    obs = env.reset(1, "none")
    assert env.evaluate()["success"] is False
    assert obs.joint_pos.shape == (14,)
    assert obs.joint_pos.dtype == np.float32
    assert obs.ee_pose.shape == (20,)
    assert obs.ee_pose.dtype == np.float32
    result = run_expert(env)
    assert result["success"] is True
    assert result["chosen_placed"] is True
    assert env.elapsed_steps <= env.max_steps


def test_holding_the_current_command_keeps_the_arms_still(physics_envs):
    env = physics_envs["pack_battery"]
    obs = env.reset(2, "none")
    for _ in range(3):
        after = env.step(obs.joint_pos.astype(np.float64))
    np.testing.assert_allclose(after.joint_pos, obs.joint_pos, atol=0.02)


@pytest.mark.render
def test_views_are_camera_views_with_instance_segmentation(render_env):
    env = render_env
    obs = env.reset(0, "none")
    assert [v.name for v in obs.views] == ["cam0", "cam1", "cam2", "cam3"]
    ids = {o.id for o in env.objects}
    for view in obs.views:
        assert view.rgb.shape == (72, 96, 3)
        assert view.rgb.dtype == np.uint8
        assert view.depth.dtype == np.float32
        assert view.depth.max() > 0.3
        assert set(np.unique(view.segmentation)) <= ids | {0}
        np.testing.assert_allclose(
            view.T_world_cam[:3, :3].T @ view.T_world_cam[:3, :3], np.eye(3), atol=1e-5
        )
    # A battery's pixels back-project onto the battery: depth, K and T_world_cam agree with the physics.
    battery = env.instruction.chosen_object
    center = env.pose(battery)[:3, 3]
    view = obs.views[2]
    v, u = np.nonzero((view.segmentation == battery) & (view.depth > 0))
    assert len(u) > 0
    z = view.depth[v, u]
    rays = np.linalg.inv(view.K) @ np.stack([u + 0.5, v + 0.5, np.ones_like(u)]).astype(np.float64)
    points = (view.T_world_cam[:3, :3] @ (rays * z) + view.T_world_cam[:3, 3:4]).T
    assert np.linalg.norm(points.mean(axis=0)[:2] - center[:2]) < 0.02


def test_state_round_trip_replays_the_same_motion(physics_envs):
    from codediffuser_sim.expert import expert_commands

    env = physics_envs["pack_battery"]
    env.reset(4, "none")
    commands = expert_commands(env)[:12]
    state = env.get_state()
    for command in commands:
        env.step(command)
    first = (env.joint_pos(), {i: env.pose(i) for i in env.actors})
    env.set_state(state)
    assert env.elapsed_steps == state.steps
    for command in commands:
        env.step(command)
    np.testing.assert_allclose(env.joint_pos(), first[0], atol=1e-3)
    for i, pose in first[1].items():
        np.testing.assert_allclose(env.pose(i)[:3, 3], pose[:3, 3], atol=1e-3)
    other = physics_envs["stow_books"]
    other.reset(0, "none")
    with pytest.raises(SimError, match="does not match"):
        other.set_state(env.get_state())


@pytest.mark.parametrize("task", TASKS)
def test_layouts_keep_objects_apart_over_many_seeds(task):
    import codediffuser_sim.tasks  # noqa: F401

    sample = TASK_REGISTRY[task].sample_layout
    for seed in range(200):
        objects = [o for o in sample(seed) if o.category in ("battery", "mug", "book")]
        xy = np.array([o.position[:2] for o in objects])
        gaps = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy))
        assert gaps.min() > 0.05


def test_impossible_layout_is_a_clear_error():
    from codediffuser_sim.layout import LayoutError, sample_separated_xy

    with pytest.raises(LayoutError, match="cannot place 5 objects"):
        sample_separated_xy(np.random.default_rng(0), 5, (0, 0.1), (0, 0.1), 0.2, restarts=3)


@pytest.mark.parametrize("side", ["left", "right"])
def test_sapien_urdf_agrees_with_the_kinematics(physics_envs, side):
    env = physics_envs["pack_battery"]
    env.reset(0, "none")
    arm = env.arms[side]
    ee_link = next(link for link in arm.links if link.name == "ee_link")
    rng = np.random.default_rng(11)
    for _ in range(5):
        q = rng.uniform(arm.model.lower, arm.model.upper)
        gripper = float(rng.uniform(0, 1))
        arm.articulation.set_qpos(arm.full_qpos(q, gripper))
        T_sapien = ee_link.entity_pose.to_transformation_matrix()
        np.testing.assert_allclose(T_sapien, arm.model.fk_world(q), atol=1e-5)
        np.testing.assert_allclose(arm.q_arm, q, atol=1e-6)
        assert arm.gripper == pytest.approx(gripper, abs=1e-6)


def test_expert_runs_at_the_real_robot_rate():
    env = make_env("stow_books", SimConfig(render=False, control_hz=50.0))
    env.reset(2, "target")
    assert run_expert(env)["success"] is True
    assert env.max_steps == round(env.max_duration_s * 50)
    assert env.elapsed_steps <= env.max_steps


def test_fuzzed_commands_are_either_refused_or_within_limits(physics_envs):
    env = physics_envs["pack_battery"]
    env.reset(0, "none")
    lower = np.concatenate([np.append(env.arms[s].model.lower, 0.0) for s in ("left", "right")])
    upper = np.concatenate([np.append(env.arms[s].model.upper, 1.0) for s in ("left", "right")])
    rng = np.random.default_rng(0)
    accepted = 0
    for _ in range(300):
        command = rng.uniform(lower - 0.3, upper + 0.3)
        if rng.random() < 0.1:
            command[rng.integers(14)] = rng.choice([np.nan, np.inf, -np.inf])
        inside = np.all(np.isfinite(command)) and np.all((command >= lower) & (command <= upper))
        if inside:
            np.testing.assert_array_equal(env.validate_command(command), command)
            accepted += 1
        else:
            with pytest.raises(SimError):
                env.validate_command(command)
    assert 0 < accepted < 300
