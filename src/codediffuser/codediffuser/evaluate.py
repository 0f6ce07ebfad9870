"""`codediffuser eval`: the paper's experiment on our simulator, per task and ambiguity level.

For every task and level, closed-loop success of
  (a) `codegen`      — the attention-conditioned policy, attention from the code generator's program;
  (b) `ground_truth` — the same policy, attention on the demonstration's own choice (chosen object and
                       target of the simulator's instruction);
  (c) `no_attention` — the baseline diffusion policy on the point cloud alone (no instruction at all);
plus success of (a) against the number of demonstrations, and the code generator's grounding rate
(instructions whose attended (object, target) is a correct choice / instructions).

Policies are trained by the project's own commands (`codediffuser generate`, `codediffuser train`, see
`codediffuser.e2e_policy`) and cached in `$CODEDIFFUSER_CACHE` (default ~/.cache/codediffuser), so a
rerun only evaluates. Evaluation scenes use seeds from `eval_seed` (10 000) upwards, disjoint from the
demonstrations' (0 …). Writes results.json, results.md (tables) and PNG plots to `--out`.
`--attention-checkpoint` + `--baseline-checkpoint` evaluate two given policies (say, trained on a GPU
with `codediffuser train --device cuda`) instead of training the scale's.

Scales: `tiny` (tests: one task, one level, a few steps), `small` (this 2-core CPU: Stow Books in
under an hour on an idle machine with `--jobs 3`, the shipped recipe with one observation frame; each
further task named with `--tasks` adds about as much), `gpu` (the shipped policies' recipe, 200
demonstrations at batch 128: ≈ 5 min per policy on an H200, ≈ 1 h on this CPU; `--device cuda`),
`paper` (the paper's model sizes and demonstration counts; ≈ 4 h per policy on an H200).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import shlex
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from codediffuser.e2e_policy import LIGHT_MODEL, Recipe

if TYPE_CHECKING:
    from codediffuser_sim.record import RecordConfig

CONDITIONS = ("codegen", "ground_truth", "no_attention")
"""(a), (b), (c) of the module docstring."""
EVAL_SEED = 10_000
"""First seed of the evaluation scenes (demonstrations are recorded from seed 0 upwards)."""
GPU_SCALES = ("gpu", "paper")
"""Scales whose training is sized for an accelerator."""
MAX_SEED_TRIES = 5
"""Seeds tried per wanted scene (a layout may have no instruction at a level)."""


@dataclass(frozen=True)
class Scale:
    """How big an evaluation is.

    Attributes:
        tasks: tasks evaluated (None = every registered task).
        levels: ambiguity levels evaluated.
        episodes: rollouts per task × level × condition.
        demos: demonstration counts of the success-vs-demonstrations curve; the largest trains the
            policies of the main table.
        curve_episodes: rollouts per level for the smaller demonstration counts.
        grounding_instructions: instructions per task × level for the grounding rate.
        recipe: training recipe of the largest demonstration count (task, episodes and use_attention
            are set per run).
        max_steps: rollout limit in control steps (None = the task's own `max_steps`).
        action_steps: actions executed per prediction in the rollouts (None = the checkpoints'; see
            `codediffuser_policy.checkpoint.load_policy`).
        curve_same_epochs: smaller demonstration counts train the recipe's epochs, so fewer steps (a
            quarter of a policy for a quarter of the demonstrations); otherwise proportionally more
            epochs, i.e. as many steps, which isolates the data from the training length but costs a
            whole policy per point.
    """

    tasks: tuple[str, ...] | None
    levels: tuple[str, ...]
    episodes: int
    demos: tuple[int, ...]
    curve_episodes: int
    grounding_instructions: int
    recipe: Recipe
    max_steps: int | None = None
    action_steps: int | None = None
    curve_same_epochs: bool = False


CPU_RECIPE = Recipe(
    record_points=1024,
    model_overrides=LIGHT_MODEL,
    num_epochs=93,
    batch_size=128,
    lr=1e-3,
    lr_warmup_steps=200,
    mirror=True,
)
"""The shipped policies' recipe (`checkpoints/<task>/policy.json`, 200 demonstrations): 256 points, batch
128 — the number of training windows seen is what mattered (docs/results.md, fifth session). About an
hour of this 2-core CPU per policy, minutes on a GPU."""

ONE_FRAME_RECIPE = dataclasses.replace(CPU_RECIPE, model_overrides={**LIGHT_MODEL, "n_obs_steps": 1})
"""`CPU_RECIPE` conditioned on the current observation only (To = 1 instead of 2): the point encoder is
four fifths of a training step on this CPU and runs once per observation frame, so a step takes
0.68 s instead of 1.49 s (one thread, batch 128) and the shipped recipe's training fits the hour."""

_SMALL = Scale(
    tasks=("stow_books",),
    levels=("none", "object", "target", "both"),
    episodes=4,
    demos=(25, 200),
    curve_episodes=2,
    grounding_instructions=25,
    recipe=ONE_FRAME_RECIPE,
    action_steps=15,
    curve_same_epochs=True,
)
"""This 2-core CPU in under an hour from an empty cache with `--jobs 3` (docs/results.md): the shipped
recipe (200 demonstrations, 93 epochs) with one observation frame, and the curve's 25 demonstrations
for as many epochs. Stow Books, because its episodes are short (recording and rollouts are cheap) and a
policy that never sees the instruction mostly takes the wrong book (shipped policies: 65 % success with
attention from code, 5 % without). Measured (eighth session): 50.9 min from an empty cache, success
10 / 6 / 0 of 16 for (a) / (b) / (c), 0 of 8 on 25 demonstrations. Smaller budgets did not show the
attention's effect: 40 % of the shipped recipe's training windows with two frames gave 15 % / 5 % / 5 %
(seventh session), and a third of them did not hang a mug once (0 of 32, eighth session)."""

SCALES: dict[str, Scale] = {
    "tiny": Scale(
        tasks=("pack_battery",),
        levels=("object",),
        episodes=1,
        demos=(1,),
        curve_episodes=1,
        grounding_instructions=2,
        recipe=Recipe(record_points=64, model_preset="tiny", num_epochs=1, batch_size=4, lr_warmup_steps=1),
        max_steps=3,
    ),
    "small": _SMALL,
    "gpu": dataclasses.replace(
        _SMALL,
        tasks=None,
        episodes=10,
        demos=(50, 100, 200),
        curve_episodes=5,
        recipe=CPU_RECIPE,
        curve_same_epochs=False,
    ),
    "paper": Scale(
        tasks=None,
        levels=("none", "object", "target", "both"),
        episodes=25,
        demos=(25, 50, 100, 200),
        curve_episodes=10,
        grounding_instructions=100,
        recipe=Recipe(
            record_points=1024, model_preset="paper", num_epochs=500, batch_size=64, lr_warmup_steps=500
        ),
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The `codediffuser eval` options."""
    p = argparse.ArgumentParser(prog="codediffuser eval", description=__doc__.splitlines()[0])
    p.add_argument("--scale", choices=sorted(SCALES), default="small", help="experiment size")
    p.add_argument("--tasks", nargs="+", help="only these tasks (default: the scale's)")
    p.add_argument(
        "--levels", nargs="+", choices=("none", "object", "target", "both"), help="only these levels"
    )
    p.add_argument(
        "--episodes", type=int, help="rollouts per task × level × condition (default: the scale's)"
    )
    p.add_argument("--demos", type=int, nargs="+", help="demonstration counts (default: the scale's)")
    p.add_argument("--out", type=Path, help="output folder (default outputs/eval/<scale>)")
    p.add_argument("--action-steps", type=int, help="actions executed per prediction (default: the scale's)")
    p.add_argument(
        "--attention-checkpoint",
        type=Path,
        help="evaluate this attention policy instead of training the scale's (e.g. one trained on a GPU); "
        "needs one --demos N, the demonstrations it was trained on",
    )
    p.add_argument(
        "--baseline-checkpoint",
        type=Path,
        help="the no-attention policy beside --attention-checkpoint (without it, condition (c) is not run)",
    )
    p.add_argument("--device", default="cpu", help="torch device for training and inference")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="policies trained, and rollouts run, at once, each in its own process with an equal share "
        "of the threads (on 2 cores two one-thread trainings of the shipped recipe make ≈ 105 "
        "windows/s each, one two-thread training 160–180)",
    )
    return p


def resolve_scale(args: argparse.Namespace) -> Scale:
    """The scale with the command line's overrides applied.

    Raises:
        ValueError: a non-positive count, or an unknown task.
    """
    import codediffuser_sim.tasks  # noqa: F401  (registers the built-in tasks)
    from codediffuser_sim.env import TASK_REGISTRY

    scale = SCALES[args.scale]
    tasks = tuple(args.tasks or scale.tasks or sorted(TASK_REGISTRY))
    unknown = [t for t in tasks if t not in TASK_REGISTRY]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; registered: {sorted(TASK_REGISTRY)}")
    demos = tuple(sorted(set(args.demos or scale.demos)))
    episodes = args.episodes if args.episodes is not None else scale.episodes
    if episodes < 1 or min(demos) < 1:
        raise ValueError(f"--episodes and --demos must be >= 1, got {episodes}, {demos}")
    if args.action_steps is not None and args.action_steps < 1:
        raise ValueError(f"--action-steps must be >= 1, got {args.action_steps}")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    return dataclasses.replace(
        scale,
        tasks=tasks,
        levels=tuple(args.levels or scale.levels),
        episodes=episodes,
        demos=demos,
        action_steps=args.action_steps or scale.action_steps,
    )


def resolve_supplied(args: argparse.Namespace, scale: Scale) -> dict[str, Path] | None:
    """The policies given on the command line ({"attention": path[, "baseline": path]}), or None.

    Without a baseline the no-attention condition is left out (reported as not run), so a policy trained
    without its baseline twin can still be measured. The report needs the one demonstration count the
    policies were trained on (no smaller counts are trained for the curve).

    Raises:
        ValueError: a baseline without an attention policy, a missing file, not exactly one `--demos`
            count, or more than one task (a policy belongs to one task).
    """
    if args.attention_checkpoint is None:
        if args.baseline_checkpoint is not None:
            raise ValueError("--baseline-checkpoint needs --attention-checkpoint beside it")
        return None
    given = {"attention": args.attention_checkpoint}
    if args.baseline_checkpoint is not None:
        given["baseline"] = args.baseline_checkpoint
    missing = [str(path) for path in given.values() if not path.is_file()]
    if missing:
        raise ValueError(f"checkpoint(s) not found: {', '.join(missing)}")
    if not args.demos or len(args.demos) != 1:
        raise ValueError("given checkpoints need one --demos N: the demonstrations they were trained on")
    if scale.tasks is None or len(scale.tasks) != 1:
        raise ValueError("given checkpoints belong to one task: name it with --tasks")
    return given


def training_record(checkpoint: Path) -> dict:
    """What is known of a checkpoint's training, for results.json/md.

    `<name>.json` beside it (as `checkpoints/<task>/` ships them), else its folder's `recipe.json` (a
    cache run, as `e2e_policy.train_recipe` writes it), else only its step count.
    """
    from codediffuser_policy.checkpoint import load_checkpoint

    for path in (checkpoint.with_suffix(".json"), checkpoint.parent / "recipe.json"):
        if path.is_file():
            return {**json.loads(path.read_text()), "checkpoint": str(checkpoint)}
    payload = load_checkpoint(checkpoint)
    return {
        "step": payload["step"],
        "command": "(no training record beside it)",
        "checkpoint": str(checkpoint),
    }


@dataclass
class Scene:
    """One evaluation scene: seed, level, instruction and the code generator's answer on it."""

    seed: int
    level: str
    instruction: str
    program_ids: tuple[int, ...]
    grounded: bool
    chosen_ids: tuple[int, int]


@dataclass
class TaskResults:
    """Everything measured for one task (serialised into results.json)."""

    task: str
    recipes: dict[str, dict] = field(default_factory=dict)
    grounding: dict[str, dict] = field(default_factory=dict)
    rollouts: list[dict] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class RecordSettings:
    """Image size and fusion settings shared by the recordings and the rollouts."""

    width: int
    height: int
    config: RecordConfig


_ENVS: dict[tuple[str, int, int], object] = {}


def _env_cache(task: str, record: RecordSettings):
    """One simulator per task and image size for the whole evaluation (building one costs seconds)."""
    from codediffuser_sim.env import SimConfig, make_env

    key = (task, record.width, record.height)
    if key not in _ENVS:
        _ENVS[key] = make_env(task, SimConfig(width=record.width, height=record.height))
    return _ENVS[key]


def collect_scenes(task: str, level: str, count: int, record: RecordSettings) -> list[Scene]:
    """`count` seeded scenes at `level` with the offline code generator's grounding of each.

    Raises:
        RuntimeError: too few seeds give an instruction at this level.
    """
    from codediffuser.e2e_episode import fuse, ground_instruction
    from codediffuser_codegen.sandbox import Sandbox
    from codediffuser_sim.env import SimError

    env = _env_cache(task, record)
    sandbox = Sandbox()
    scenes: list[Scene] = []
    for seed in range(EVAL_SEED, EVAL_SEED + MAX_SEED_TRIES * count):
        if len(scenes) == count:
            break
        try:
            obs = env.reset(seed, level)
        except SimError:
            continue
        instr = env.instruction
        grounding = ground_instruction(env, fuse(obs, record.config), instr.text, sandbox)
        scenes.append(
            Scene(
                seed,
                level,
                instr.text,
                grounding.attended_ids,
                bool(grounding.correct),
                (instr.chosen_object, instr.chosen_target),
            )
        )
    if len(scenes) < count:
        raise RuntimeError(f"{task}/{level}: only {len(scenes)} of {count} seeds give an instruction")
    return scenes


def rollout(
    task: str, scene: Scene, condition: str, policy, record: RecordSettings, max_steps: int | None
) -> dict:
    """One closed-loop episode of `condition` on `scene`; a JSON-ready record."""
    from codediffuser.e2e_episode import TrackedAttention, run_policy, scene_metadata

    env = _env_cache(task, record)
    obs = env.reset(scene.seed, scene.level)
    ids = {"codegen": scene.program_ids, "ground_truth": scene.chosen_ids, "no_attention": ()}[condition]
    row = {"seed": scene.seed, "level": scene.level, "condition": condition, "instruction": scene.instruction}
    if condition == "codegen" and len(ids) < 2:
        return {**row, "success": False, "steps": 0, "error": "no program could be run"}
    tracker = TrackedAttention(scene_metadata(env), ids) if ids else None
    result = run_policy(env, policy, obs, record.config, tracker, max_steps or env.max_steps, seed=scene.seed)
    return {
        **row,
        "attended": list(ids),
        "success": result.success,
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        "ik_failures": result.ik_failures,
        "attention_lost_steps": result.attention_lost_steps,
        "closest_approach_m": round(result.closest_approach_m, 4),
        "max_lift_m": round(result.max_lift_m, 4),
    }


REACH_M = 0.03
"""A gripper's TCP within this distance of an allowed object counts as having reached it (the scripted
grasps close about 1.3 cm above a battery's centre)."""
LIFT_M = 0.03
"""An allowed object raised this far above its starting height while in a gripper counts as picked up
(the scripted carries lift it about 10 cm; pushing or toppling one does not raise it this far)."""


def rate(rows: Sequence[dict]) -> dict:
    """Success, reach and pick-up counts of rollout records.

    Returns:
        {"success": k, "total": n, "rate": k / n (NaN when n = 0), "reached": episodes whose closest
        approach to an allowed object was within `REACH_M`, "lifted": episodes that raised an allowed
        object by `LIFT_M` while it was in a gripper (`e2e_episode.held_lift`)}.
    """
    k = sum(bool(r["success"]) for r in rows)
    return {
        "success": k,
        "total": len(rows),
        "rate": k / len(rows) if rows else math.nan,
        "reached": sum(r.get("closest_approach_m", math.inf) <= REACH_M for r in rows),
        "lifted": sum(r.get("max_lift_m", 0.0) >= LIFT_M for r in rows),
    }


def _set_threads(threads: int) -> None:
    """Worker initialiser: the worker's share of the CPU threads."""
    import torch

    torch.set_num_threads(threads)


def _threads_each(workers: int, threads: int) -> int:
    """Each of `workers` processes' share of `threads` torch threads (at least one)."""
    return max(1, threads // workers)


def _worker_pool(workers: int, threads: int) -> ProcessPoolExecutor:
    """`workers` spawned processes with `_threads_each` torch threads each.

    Spawned, not forked: a fork would inherit torch's thread pools.
    """
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_set_threads,
        initargs=(_threads_each(workers, threads),),
    )


def _train_in_worker(recipe: Recipe, device: str) -> str:
    """`cached_checkpoint` in a worker process (`_worker_pool`), without a progress bar."""
    from codediffuser.e2e_policy import cached_checkpoint

    return str(cached_checkpoint(recipe, progress=False, device=device))


def train_policies(recipes: Sequence[Recipe], jobs: int, threads: int, log, device: str = "cpu") -> None:
    """Record and train the recipes' missing policies on `device`, up to `jobs` at once.

    One process per training with `_threads_each` torch threads: CPU-sized models do not keep two
    threads busy (the shipped recipe on 2 cores: ≈ 105 training windows/s each for two one-thread
    trainings against 160–180 for one two-thread training, as `--jobs` says). Demonstrations are recorded first, one recipe after another,
    because recipes share stores. With `jobs` = 1 nothing happens here: `evaluate_task` trains each
    policy in-process with a progress bar.
    """
    from codediffuser.e2e_policy import is_cached, recipe_data

    missing = [recipe for recipe in recipes if not is_cached(recipe)]
    if jobs <= 1 or len(missing) <= 1:
        return
    # largest first: a store that already holds more episodes gives a smaller recipe a copy of its
    # first ones, while recording the smaller count first would hand that recipe the store itself,
    # which the larger recording then grows under it
    for recipe in sorted(missing, key=lambda r: r.episodes, reverse=True):
        recipe_data(recipe)
    workers = min(jobs, len(missing))
    log(
        f"training {len(missing)} policies, {workers} at a time with {_threads_each(workers, threads)} thread(s) each"
    )
    with _worker_pool(workers, threads) as pool:
        futures = {pool.submit(_train_in_worker, recipe, device): recipe for recipe in missing}
        for future in as_completed(futures):
            recipe = futures[future]
            log(
                f"{recipe.task}: {'attention' if recipe.use_attention else 'baseline'} policy on "
                f"{recipe.episodes} demonstrations trained → {future.result()}"
            )


def policy_recipes(scale: Scale, task: str, baseline: bool = True) -> dict[tuple[str, int], Recipe]:
    """The task's policies by (kind, demonstrations).

    An attention policy per demonstration count and, with `baseline`, the no-attention twin of the
    largest (the same recipe but for the attention channel).
    """
    base = scale.recipe.for_task(task)
    top = max(scale.demos)
    runs = {
        ("attention", n): dataclasses.replace(
            base,
            episodes=n,
            num_epochs=base.num_epochs if scale.curve_same_epochs else math.ceil(base.num_epochs * top / n),
        )
        for n in scale.demos
    }
    if baseline:
        runs[("baseline", top)] = dataclasses.replace(base, episodes=top, use_attention=False)
    return runs


def evaluate_task(
    task: str,
    scale: Scale,
    device: str,
    log,
    jobs: int = 1,
    threads: int = 1,
    supplied: dict[str, Path] | None = None,
) -> TaskResults:
    """Train (or reuse) the task's policies, then measure grounding, the three conditions and the curve.

    With `supplied` (`resolve_supplied`) those policies are evaluated instead, for the scale's single
    demonstration count; without a supplied baseline the no-attention condition is not run.
    """
    from codediffuser.e2e_policy import cached_checkpoint
    from codediffuser_sim.record import RecordConfig

    results = TaskResults(task)
    base = scale.recipe.for_task(task)
    record = RecordSettings(base.width, base.height, RecordConfig(n_points=base.record_points))
    count = max(scale.grounding_instructions, scale.episodes, scale.curve_episodes)
    scenes_by_level = {}
    for level in scale.levels:
        scenes = scenes_by_level[level] = collect_scenes(task, level, count, record)
        grounded = scenes[: scale.grounding_instructions]
        results.grounding[level] = {
            "correct": sum(s.grounded for s in grounded),
            "total": len(grounded),
            "rate": sum(s.grounded for s in grounded) / len(grounded),
        }
        log(
            f"{task}/{level}: grounding {results.grounding[level]['correct']}/{results.grounding[level]['total']}"
        )

    top = max(scale.demos)
    runs = policy_recipes(scale, task, baseline=supplied is None or "baseline" in supplied)
    conditions = [c for c in CONDITIONS if c != "no_attention" or ("baseline", top) in runs]
    if supplied is None:
        train_policies(list(runs.values()), jobs, threads, log, device)
    checkpoints = {}
    for (kind, n), recipe in runs.items():
        started = time.perf_counter()
        checkpoint = cached_checkpoint(recipe, device=device) if supplied is None else supplied[kind]
        results.recipes[f"{kind}-{n}"] = training_record(checkpoint)
        checkpoints[(kind, n)] = checkpoint
        log(f"{task}: {kind} policy on {n} demonstrations ready ({time.perf_counter() - started:.0f} s)")

    specs = []
    for scenes in scenes_by_level.values():
        for scene in scenes[: scale.episodes]:
            for condition in conditions:
                kind = "baseline" if condition == "no_attention" else "attention"
                specs.append(RolloutSpec(scene, condition, top, checkpoints[(kind, top)]))
        for n in scale.demos:
            if n != top:
                specs += [
                    RolloutSpec(scene, "codegen", n, checkpoints[("attention", n)])
                    for scene in scenes[: scale.curve_episodes]
                ]
    settings = RolloutSettings(task, record, scale.max_steps, scale.action_steps, device)
    for spec, row in zip(specs, run_rollouts(specs, settings, jobs, threads, log), strict=True):
        (results.rollouts if spec.demos == top else results.curve).append({**row, "demos": spec.demos})
    return results


@dataclass(frozen=True)
class RolloutSpec:
    """One rollout of an evaluation: a scene, a condition and the policy (trained on `demos`) to run."""

    scene: Scene
    condition: str
    demos: int
    checkpoint: Path


@dataclass(frozen=True)
class RolloutSettings:
    """What every rollout of a task shares (sent to worker processes with each spec)."""

    task: str
    record: RecordSettings
    max_steps: int | None
    action_steps: int | None
    device: str


_POLICIES: dict[tuple[Path, int | None, str], object] = {}


def _run_spec(spec: RolloutSpec, settings: RolloutSettings) -> dict:
    """`rollout` of one spec, loading each checkpoint once per process."""
    from codediffuser_policy.checkpoint import load_policy

    key = (spec.checkpoint, settings.action_steps, settings.device)
    if key not in _POLICIES:
        _POLICIES[key] = load_policy(
            spec.checkpoint, device=settings.device, n_action_steps=settings.action_steps
        )
    return rollout(
        settings.task, spec.scene, spec.condition, _POLICIES[key], settings.record, settings.max_steps
    )


def run_rollouts(
    specs: Sequence[RolloutSpec], settings: RolloutSettings, jobs: int, threads: int, log
) -> list[dict]:
    """The rollouts' records in the order of `specs`, up to `jobs` at once.

    Rollouts are independent and seeded by their scene, so they can run in worker processes (each
    with its own simulator and `threads // jobs` torch threads): a policy step on one thread leaves
    the other core idle, and the simulator's rendering is single-threaded too.
    """
    top = max(spec.demos for spec in specs)

    def report(spec: RolloutSpec, row: dict) -> None:
        label = spec.condition if spec.demos == top else f"codegen@{spec.demos} demos"
        outcome = "success" if row["success"] else "failure"
        log(f"{settings.task}/{spec.scene.level} seed {spec.scene.seed} {label}: {outcome}")

    workers = min(jobs, len(specs))
    rows: dict[int, dict] = {}
    if workers <= 1:
        for k, spec in enumerate(specs):
            rows[k] = _run_spec(spec, settings)
            report(spec, rows[k])
        _POLICIES.clear()
    else:
        log(
            f"{len(specs)} rollouts, {workers} at a time with {_threads_each(workers, threads)} thread(s) each"
        )
        with _worker_pool(workers, threads) as pool:
            futures = {pool.submit(_run_spec, spec, settings): k for k, spec in enumerate(specs)}
            for future in as_completed(futures):
                k = futures[future]
                rows[k] = future.result()
                report(specs[k], rows[k])
    return [rows[k] for k in range(len(specs))]


def summarise(results: Sequence[TaskResults], scale: Scale) -> dict:
    """Success rates per task × level × condition, the curve per task, grounding per task × level."""
    table: dict = {}
    curve: dict = {}
    for r in results:
        by = defaultdict(list)
        for row in r.rollouts:
            by[(row["level"], row["condition"])].append(row)
        table[r.task] = {level: {c: rate(by[(level, c)]) for c in CONDITIONS} for level in scale.levels}
        table[r.task]["all"] = {c: rate([x for x in r.rollouts if x["condition"] == c]) for c in CONDITIONS}
        points = {
            n: rate([x for x in r.curve if x["demos"] == n]) for n in scale.demos if n != max(scale.demos)
        }
        points[max(scale.demos)] = rate([x for x in r.rollouts if x["condition"] == "codegen"])
        curve[r.task] = {str(n): points[n] for n in sorted(points)}
    return {"success": table, "success_vs_demos": curve, "grounding": {r.task: r.grounding for r in results}}


def _pct(cell: dict) -> str:
    return "–" if not cell["total"] else f"{100 * cell['rate']:.0f}% ({cell['success']}/{cell['total']})"


def _reached(cell: dict) -> str:
    return "–" if not cell["total"] else f"{cell['reached']}/{cell['total']}"


def _lifted(cell: dict) -> str:
    return "–" if not cell["total"] else f"{cell['lifted']}/{cell['total']}"


def _level_tables(summary: dict, heading: str, cell_text: Callable[[dict], str]) -> list[str]:
    """One markdown table per task: a row per ambiguity level, a column per condition."""
    lines = []
    for task, levels in summary["success"].items():
        lines += [
            f"{heading} {task}",
            "",
            "| level | (a) codegen | (b) ground truth | (c) no attention |",
            "|---|---|---|---|",
        ]
        for level, cells in levels.items():
            lines.append(f"| {level} | " + " | ".join(cell_text(cells[c]) for c in CONDITIONS) + " |")
        lines.append("")
    return lines


def markdown(
    summary: dict, results: Sequence[TaskResults], scale: Scale, command: str, seconds: float
) -> str:
    """results.md: the tables, the exact command and the training recipes."""
    lines = [
        "# codediffuser eval",
        "",
        f"Command: `{command}` — {seconds / 60:.1f} min.",
        "",
        "## Success rate per ambiguity level",
        "",
        "(a) policy + attention from the code generator, (b) policy + ground-truth attention, "
        "(c) no-attention baseline (point cloud only, never sees the instruction); – where a condition "
        "was not run (no baseline policy given).",
        "",
    ]
    lines += _level_tables(summary, "###", _pct)
    lines += [
        f"### Reached an allowed object (a gripper within {100 * REACH_M:.0f} cm of an object the instruction allows)",
        "",
        "Partial progress of failed episodes: the policy went for a right object (the attention steered it) "
        "but did not complete the grasp and placement.",
        "",
    ]
    lines += _level_tables(summary, "####", _reached)
    lines += [
        f"### Picked up an allowed object (raised at least {100 * LIFT_M:.0f} cm while in a gripper)",
        "",
        "Partial progress one stage further: the grasp held, the placement failed or the time ran out.",
        "",
    ]
    lines += _level_tables(summary, "####", _lifted)
    lines += ["## Success vs number of demonstrations ((a), all levels)", ""]
    for task, points in summary["success_vs_demos"].items():
        lines += [
            f"### {task}",
            "",
            "| demonstrations | success | reached an allowed object | picked one up |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {n} | {_pct(cell)} | {_reached(cell)} | {_lifted(cell)} |" for n, cell in points.items()
        ]
        lines.append("")
    lines += ["## Grounding rate of the code generator (offline)", ""]
    lines += ["| task | " + " | ".join(scale.levels) + " |", "|---|" + "---|" * len(scale.levels)]
    for task, levels in summary["grounding"].items():
        lines.append(
            f"| {task} | "
            + " | ".join(f"{levels[lv]['correct']}/{levels[lv]['total']}" for lv in scale.levels)
            + " |"
        )
    lines += ["", "## Policies (each trained by these commands)", ""]
    for r in results:
        for name, info in r.recipes.items():
            losses = (
                f", final train loss {info['train_loss']:.4f}, val loss {info['val_loss']:.4f}"
                if "train_loss" in info
                else ""
            )
            lines += [
                f"- {r.task} {name} (`{info['checkpoint']}`): {info['step']} steps{losses}",
                "",
                "```",
                info["command"],
                "```",
            ]
    return "\n".join(lines) + "\n"


def plots(summary: dict, scale: Scale, out: Path) -> list[Path]:
    """success_by_level.png (grouped bars per task) and success_vs_demos.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    paths = []
    tasks = list(summary["success"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    labels = {
        "codegen": "(a) codegen",
        "ground_truth": "(b) ground truth",
        "no_attention": "(c) no attention",
    }
    for ax, task in zip(axes[0], tasks, strict=True):
        levels = list(scale.levels)
        x = np.arange(len(levels))
        for k, c in enumerate(CONDITIONS):
            if not summary["success"][task]["all"][c]["total"]:
                continue  # not run: no bar, rather than one at zero
            values = [summary["success"][task][lv][c]["rate"] for lv in levels]
            ax.bar(x + (k - 1) * 0.27, np.nan_to_num(values), 0.27, label=labels[c])
        ax.set_xticks(x, levels)
        ax.set_ylim(0, 1)
        ax.set_xlabel("ambiguity level")
        ax.set_ylabel("success rate")
        ax.set_title(task)
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "success_by_level.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for task, points in summary["success_vs_demos"].items():
        ns = [int(n) for n in points]
        ax.plot(ns, [points[str(n)]["rate"] for n in ns], marker="o", label=task)
    ax.set_xlabel("demonstrations")
    ax.set_ylabel("success rate ((a) codegen)")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    paths.append(out / "success_vs_demos.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns 0 when every run finished (whatever the success rates), 2 on bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        scale = resolve_scale(args)
        supplied = resolve_supplied(args, scale)
    except ValueError as exc:
        print(f"codediffuser eval: {exc}", file=sys.stderr)
        return 2
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or Path("outputs") / "eval" / args.scale
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[eval {time.perf_counter() - started:7.0f} s] {message}", flush=True)

    threads = torch.get_num_threads()
    if args.scale in GPU_SCALES and args.device == "cpu" and supplied is None:
        log(
            f"warning: the {args.scale} scale is sized for a GPU (--device cuda); on the CPU its training takes hours"
        )
    results = [
        evaluate_task(task, scale, args.device, log, args.jobs, threads, supplied) for task in scale.tasks
    ]
    summary = summarise(results, scale)
    seconds = time.perf_counter() - started
    command = "codediffuser eval " + " ".join(shlex.quote(a) for a in argv)
    payload = {
        "command": command,
        "seconds": seconds,
        "scale": dataclasses.asdict(scale),
        **summary,
        "tasks": [dataclasses.asdict(r) for r in results],
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    (out / "results.md").write_text(markdown(summary, results, scale, command, seconds))
    plots(summary, scale, out)
    log(f"wrote {out / 'results.md'}, results.json, success_by_level.png, success_vs_demos.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
