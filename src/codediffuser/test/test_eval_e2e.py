"""`codediffuser eval` at tiny size, and its bookkeeping (subsets of stores, rates, tables)."""

import dataclasses
import json
import math

import numpy as np
import pytest
import sapien
import zarr

from codediffuser.e2e_episode import closest_approach, held_lift
from codediffuser.e2e_policy import SHIPPED_DIR, subset_store
from codediffuser.evaluate import (
    CONDITIONS,
    LIFT_M,
    REACH_M,
    SCALES,
    TaskResults,
    main,
    markdown,
    rate,
    summarise,
)
from codediffuser_policy.checkpoint import load_policy
from codediffuser_policy.dataset import DatasetWriter
from codediffuser_policy.synthetic import WORKSPACE_MAX, WORKSPACE_MIN, synthetic_episode


@pytest.mark.render
@pytest.mark.slow
def test_eval_tiny_writes_tables_plots_and_finite_rates(tmp_path, monkeypatch, capsys):
    # a cache of its own: the attention policy and the baseline are both missing, so they are trained
    # side by side in two worker processes (a shared cache may already hold one of them); the three
    # rollouts then run in two worker processes too
    monkeypatch.setenv("CODEDIFFUSER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "eval"
    assert main(["--scale", "tiny", "--out", str(out), "--jobs", "2", "--threads", "2"]) == 0
    printed = capsys.readouterr().out
    assert "training 2 policies, 2 at a time with 1 thread(s) each" in printed
    assert "3 rollouts, 2 at a time with 1 thread(s) each" in printed
    for name in ("results.json", "results.md", "success_by_level.png", "success_vs_demos.png"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    cells = results["success"]["pack_battery"]["object"]
    for condition in CONDITIONS:
        assert cells[condition]["total"] == 1
        assert 0.0 <= cells[condition]["rate"] <= 1.0
    # in the order of the specs, whichever worker finished first
    assert [r["condition"] for r in results["tasks"][0]["rollouts"]] == list(CONDITIONS)
    grounding = results["grounding"]["pack_battery"]["object"]
    assert grounding["total"] == 2
    assert grounding["correct"] == 2
    assert math.isfinite(results["success_vs_demos"]["pack_battery"]["1"]["rate"])
    text = (out / "results.md").read_text()
    assert "codediffuser eval --scale tiny" in text
    assert "codediffuser train --data" in text


def test_subset_store_keeps_the_first_episodes(tmp_path):
    writer = DatasetWriter(tmp_path / "all.zarr", 8, 10.0, WORKSPACE_MIN, WORKSPACE_MAX)
    lengths = (3, 4, 5)
    for i, n in enumerate(lengths):
        writer.add_episode(
            synthetic_episode(n, 8, seed=i),
            task="t",
            level="none",
            seed=i,
            instruction="x",
            attended=["a", "b"],
            success=True,
        )
    subset = subset_store(tmp_path / "all.zarr", 2, tmp_path / "two.zarr")
    group = zarr.open_group(str(subset), mode="r")
    assert group["meta/episode_ends"][:].tolist() == [3, 7]
    assert group["data/action"].shape[0] == 7
    assert [e["seed"] for e in group["meta"].attrs["episodes"]] == [0, 1]
    source = zarr.open_group(str(tmp_path / "all.zarr"), mode="r")
    np.testing.assert_array_equal(group["data/point_cloud"][:], source["data/point_cloud"][:7])


def test_summary_counts_each_condition_and_level():
    scale = SCALES["tiny"]
    r = TaskResults("pack_battery", grounding={"object": {"correct": 1, "total": 2, "rate": 0.5}})
    r.rollouts = [
        {
            "level": "object",
            "condition": "codegen",
            "success": True,
            "demos": 1,
            "closest_approach_m": 0.01,
            "max_lift_m": 0.1,
        },
        {
            "level": "object",
            "condition": "codegen",
            "success": False,
            "demos": 1,
            "closest_approach_m": 0.02,
            "max_lift_m": 0.01,
        },
        {
            "level": "object",
            "condition": "ground_truth",
            "success": True,
            "demos": 1,
            "closest_approach_m": 0.0,
        },
        {
            "level": "object",
            "condition": "no_attention",
            "success": False,
            "demos": 1,
            "closest_approach_m": 0.2,
        },
    ]
    summary = summarise([r], scale)
    cells = summary["success"]["pack_battery"]["object"]
    assert cells["codegen"] == {"success": 1, "total": 2, "rate": 0.5, "reached": 2, "lifted": 1}
    assert cells["no_attention"]["reached"] == 0
    assert cells["ground_truth"]["rate"] == 1.0
    assert cells["no_attention"]["rate"] == 0.0
    assert summary["success_vs_demos"]["pack_battery"]["1"]["rate"] == 0.5
    text = markdown(summary, [r], scale, "codediffuser eval --scale tiny", 60.0)
    assert "| object | 50% (1/2) | 100% (1/1) | 0% (0/1) |" in text
    assert "| object | 2/2 | 1/1 | 0/1 |" in text  # reached an allowed object
    assert "| object | 1/2 | 0/1 | 0/1 |" in text  # picked one up (rows without the figure count 0)
    assert "| 1 | 50% (1/2) | 2/2 | 1/2 |" in text  # success vs demonstrations
    assert "| pack_battery | 1/2 |" in text
    assert math.isnan(rate([])["rate"])


def test_eval_refuses_unknown_task(capsys):
    assert main(["--scale", "tiny", "--tasks", "no_such_task"]) == 2
    assert "no_such_task" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["pack_battery", "stow_books", "hang_mug"])
def test_recorded_actions_replayed_through_ik_complete_the_task(task):
    """The rollouts' action path (end-effector action → IK → joint command) can succeed at all.

    The expert's commands become training actions by FK (`joints_to_action`); executing those actions
    the way `run_policy` does must still place the object, so a failing policy is the policy's failure.
    The evaluation's reach and pick-up measures must count the expert's grasp and carry of every task.
    """
    from codediffuser_policy.kinematics import joints_to_action
    from codediffuser_sim.env import SimConfig, ee_action_to_command, make_env
    from codediffuser_sim.expert import expert_commands

    env = make_env(task, SimConfig(render=False))
    env.reset(0, "none")
    allowed = env.instruction.valid_objects
    # the expert closes its fingers at the object's grasp point, the reference of both measures
    np.testing.assert_allclose(
        env.expert_plan().grasp, env.grasp_point(env.instruction.chosen_object), atol=1e-6
    )
    assert closest_approach(env, allowed) > REACH_M  # the arms start at home, away from the objects
    start_z = {i: env.pose(i)[2, 3] for i in allowed}
    closest, lift = [], []
    for command in expert_commands(env):
        env.step(env.validate_command(ee_action_to_command(env, joints_to_action(env.arm_models(), command))))
        closest.append(closest_approach(env, allowed))
        lift.append(held_lift(env, start_z))
    assert env.evaluate()["success"]
    assert min(closest) <= REACH_M  # the evaluation's "reached" criterion holds for the expert's grasp
    assert lift[0] < LIFT_M <= max(lift)  # and its "picked up" one for the carry
    assert lift[-1] < LIFT_M  # an object let go of is no longer lifted
    # An object in the air but away from both grippers (knocked, not grasped) is not a pick-up.
    thing = next(iter(start_z))
    T = env.pose(thing)
    T[:3, 3] = [0.0, -0.3, 0.4]
    env.actors[thing].set_pose(sapien.Pose(T))
    assert held_lift(env, {thing: start_z[thing]}) == 0.0


def test_parallel_training_records_the_largest_demonstration_count_first(monkeypatch):
    """A 20-demonstration recipe must get a copy of the first 20 episodes, not the store that the
    60-demonstration recording grows afterwards."""
    import concurrent.futures

    import codediffuser.e2e_policy as e2e_policy
    from codediffuser import evaluate

    recorded, trained = [], []
    monkeypatch.setattr(e2e_policy, "is_cached", lambda recipe: False)
    monkeypatch.setattr(e2e_policy, "recipe_data", lambda recipe: recorded.append(recipe.episodes))

    pools = []

    class InlinePool(concurrent.futures.ThreadPoolExecutor):
        def __init__(self, workers, mp_context=None, initializer=None, initargs=()):
            super().__init__(workers)
            pools.append((workers, initializer, initargs))

    monkeypatch.setattr(evaluate, "ProcessPoolExecutor", InlinePool)
    monkeypatch.setattr(evaluate, "_train_in_worker", lambda recipe, device: trained.append(device) or "ok")
    base = SCALES["tiny"].recipe
    recipes = [dataclasses.replace(base, episodes=n) for n in (20, 60)]
    recipes.append(dataclasses.replace(base, episodes=60, use_attention=False))
    evaluate.train_policies(recipes, jobs=3, threads=2, log=lambda message: None, device="cuda")
    assert recorded == [60, 60, 20]
    assert pools == [(3, evaluate._set_threads, (1,))]  # three workers of one thread each
    assert trained == ["cuda"] * 3  # `--device` reaches the trainings, not only the rollouts


@pytest.mark.render
def test_eval_of_given_checkpoints_trains_nothing_and_names_them(
    tmp_path, monkeypatch, untrained_checkpoint, untrained_baseline_checkpoint
):
    monkeypatch.setenv("CODEDIFFUSER_CACHE", str(tmp_path / "cache"))
    record = {
        "step": 4929,
        "train_loss": 0.007,
        "val_loss": 0.0071,
        "command": "codediffuser train --device cuda",
    }
    untrained_checkpoint.with_suffix(".json").write_text(json.dumps(record))
    out = tmp_path / "eval"
    argv = ["--scale", "tiny", "--out", str(out), "--demos", "7"]
    argv += ["--attention-checkpoint", str(untrained_checkpoint)]
    argv += ["--baseline-checkpoint", str(untrained_baseline_checkpoint)]
    try:
        assert main(argv) == 0
    finally:
        untrained_checkpoint.with_suffix(".json").unlink()
    assert not (tmp_path / "cache" / "runs").exists()  # nothing was trained
    results = json.loads((out / "results.json").read_text())
    for condition in CONDITIONS:
        assert results["success"]["pack_battery"]["object"][condition]["total"] == 1
    assert list(results["success_vs_demos"]["pack_battery"]) == ["7"]
    text = (out / "results.md").read_text()
    assert f"attention-7 (`{untrained_checkpoint}`): 4929 steps, final train loss 0.0070" in text
    assert "codediffuser train --device cuda" in text
    assert f"baseline-7 (`{untrained_baseline_checkpoint}`): 0 steps" in text
    assert "(no training record beside it)" in text


@pytest.mark.render
def test_eval_of_an_attention_policy_alone_leaves_the_baseline_condition_out(
    tmp_path, monkeypatch, untrained_checkpoint
):
    monkeypatch.setenv("CODEDIFFUSER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "eval"
    argv = ["--scale", "tiny", "--out", str(out), "--demos", "7"]
    assert main([*argv, "--attention-checkpoint", str(untrained_checkpoint)]) == 0
    assert not (tmp_path / "cache" / "runs").exists()  # no baseline was trained in its place
    results = json.loads((out / "results.json").read_text())
    cells = results["success"]["pack_battery"]["object"]
    assert cells["codegen"]["total"] == cells["ground_truth"]["total"] == 1
    assert cells["no_attention"]["total"] == 0
    assert [r["condition"] for r in results["tasks"][0]["rollouts"]] == ["codegen", "ground_truth"]
    assert list(results["tasks"][0]["recipes"]) == ["attention-7"]
    rows = [line for line in (out / "results.md").read_text().splitlines() if line.startswith("| object |")]
    assert len(rows) == 3  # success, reached and picked-up tables
    assert all(row.endswith("| – |") for row in rows)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--baseline-checkpoint", "{a}"], "needs --attention-checkpoint"),
        (["--attention-checkpoint", "{a}", "--baseline-checkpoint", "{missing}"], "not found"),
        (
            ["--attention-checkpoint", "{a}", "--baseline-checkpoint", "{a}", "--demos", "1", "2"],
            "one --demos N",
        ),
        (
            [
                "--attention-checkpoint",
                "{a}",
                "--baseline-checkpoint",
                "{a}",
                "--demos",
                "1",
                "--tasks",
                "pack_battery",
                "hang_mug",
            ],
            "one task",
        ),
    ],
)
def test_eval_refuses_an_incomplete_policy_pair(tmp_path, capsys, extra, message):
    a = tmp_path / "a.pt"
    a.write_bytes(b"")
    argv = ["--scale", "tiny", *(x.format(a=a, missing=tmp_path / "missing.pt") for x in extra)]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


SHIPPED_TASKS = sorted(path.parent.name for path in SHIPPED_DIR.glob("*/policy.json"))


def test_every_registered_task_has_a_shipped_policy_that_loads():
    import codediffuser_sim.tasks  # noqa: F401  (registers the built-in tasks)
    from codediffuser_sim.env import TASK_REGISTRY

    assert sorted(TASK_REGISTRY) == SHIPPED_TASKS
    for task in SHIPPED_TASKS:
        policy = load_policy(SHIPPED_DIR / task / "policy.pt")
        assert policy.config.use_attention
        assert policy.config.n_points == 256


@pytest.mark.parametrize("task", SHIPPED_TASKS)
def test_gpu_scale_is_the_shipped_policies_recipe(task):
    """`--scale gpu` promises the recipe of `checkpoints/<task>/policy.pt`: the two must not drift."""
    shipped = json.loads((SHIPPED_DIR / task / "policy.json").read_text())["recipe"]
    scale = SCALES["gpu"]
    recipe = dataclasses.asdict(dataclasses.replace(scale.recipe.for_task(task), episodes=max(scale.demos)))
    recipe["model_overrides"] = json.loads(json.dumps(recipe["model_overrides"]))  # tuples → lists
    for name in shipped:
        assert recipe[name] == shipped[name], name
    assert scale.action_steps == 15


@pytest.mark.parametrize("task", SHIPPED_TASKS)
def test_every_shipped_baseline_is_its_policys_no_attention_twin(task):
    """(c) compares like with like: the shipped baseline differs from the policy only in the attention
    channel and, where time ran short, in its number of epochs (stated in each README)."""
    policy = json.loads((SHIPPED_DIR / task / "policy.json").read_text())["recipe"]
    baseline = json.loads((SHIPPED_DIR / task / "baseline.json").read_text())["recipe"]
    assert load_policy(SHIPPED_DIR / task / "baseline.pt").config.use_attention is False
    assert {k for k in policy if policy[k] != baseline[k]} <= {"use_attention", "num_epochs"}
    assert baseline["use_attention"] is False
    assert baseline["num_epochs"] <= policy["num_epochs"]


def test_policy_recipes_of_the_small_and_gpu_scales():
    """`small` trains the curve's smaller count for the same epochs (fewer steps) and conditions on one
    frame; `gpu` trains every count for as many steps; both baselines are the attention policy's twin."""
    from codediffuser.evaluate import policy_recipes

    small = policy_recipes(SCALES["small"], "stow_books")
    assert sorted(small) == [("attention", 25), ("attention", 200), ("baseline", 200)]
    assert {r.num_epochs for r in small.values()} == {93}
    assert all(r.model_overrides["n_obs_steps"] == 1 for r in small.values())
    assert dataclasses.replace(small[("baseline", 200)], use_attention=True) == small[("attention", 200)]
    gpu = policy_recipes(SCALES["gpu"], "hang_mug", baseline=False)
    assert sorted(gpu) == [("attention", 50), ("attention", 100), ("attention", 200)]
    assert [gpu[("attention", n)].num_epochs for n in (50, 100, 200)] == [372, 186, 93]
    assert "n_obs_steps" not in gpu[("attention", 200)].model_overrides
