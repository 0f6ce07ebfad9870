"""`codediffuser demo`: one ambiguous instruction through the whole method, closed-loop in SAPIEN.

Seeded scene (Pack Battery by default) → instruction (the simulator's own at `--level`, or
`--instruction`) → program (offline generator, or `--llm` with an OpenAI-compatible endpoint) → 3D
attention → diffusion policy rollout with the attention followed as objects move. Writes to `--out`
(default outputs/demo/): program.py, composite.png (numbered candidates, the `sel_name` picture),
attention.png (first step) and attention_final.png (last step), episode.mp4 (the four cameras, attended
objects tinted), report.md and result.json (success and timings).

The policy checkpoint is `--checkpoint`, else the one shipped in checkpoints/<task>/, else one trained
now on freshly recorded demonstrations and cached (`$CODEDIFFUSER_CACHE`, default ~/.cache/codediffuser).
Success is the simulator's own check; a failed episode is reported as failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from codediffuser.e2e_policy import LIGHT_MODEL, Recipe

DEMO_RECIPE = Recipe(
    task="pack_battery",
    episodes=20,
    record_points=512,
    model_overrides=LIGHT_MODEL,
    num_epochs=100,
    lr=1e-3,
    lr_warmup_steps=200,
    mirror=True,
)
"""What the demo trains when no checkpoint is shipped or cached: ≈ 2500 optimiser steps (≈ 5 steps/s on
2 idle cores, ≈ 9 min) after recording 20 demonstrations (≈ 10 s each), inside the 20-minute budget."""
DEFAULT_LEVEL = "object"
"""Default ambiguity of the simulator's instruction: the target is named, the battery is not."""


def build_parser() -> argparse.ArgumentParser:
    """The `codediffuser demo` options."""
    p = argparse.ArgumentParser(prog="codediffuser demo", description=__doc__.splitlines()[0])
    p.add_argument("--task", default="pack_battery", help="registered task")
    p.add_argument("--seed", type=int, default=1000, help="scene seed (demonstrations use seeds 0…)")
    p.add_argument(
        "--level",
        default=DEFAULT_LEVEL,
        choices=("none", "object", "target", "both"),
        help="ambiguity of the simulator's instruction",
    )
    p.add_argument("--instruction", help="your own instruction instead of the simulator's")
    p.add_argument(
        "--llm", action="store_true", help="generate the program with an OpenAI-compatible endpoint"
    )
    p.add_argument("--base-url", help="endpoint URL for --llm, e.g. http://localhost:8000/v1")
    p.add_argument("--model", default="gpt-4o", help="model name for --llm")
    p.add_argument(
        "--checkpoint", type=Path, help="policy checkpoint (default: shipped, cached, or trained now)"
    )
    p.add_argument(
        "--no-shipped",
        dest="shipped",
        action="store_false",
        help="ignore checkpoints/ and use (or train) the cached checkpoint of the demo's recipe",
    )
    p.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder")
    p.add_argument("--max-steps", type=int, help="control steps of the rollout (default: the task's limit)")
    p.add_argument(
        "--action-steps",
        type=int,
        help="actions executed per prediction (default: the longest chunk the checkpoint predicts, "
        "horizon - n_obs_steps + 1: every prediction may choose another arm, and with 8 instead of 15 "
        "the small-scale policy reached an allowed battery in 6/16 instead of 13/16 evaluation rollouts)",
    )
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


@dataclass
class DemoReport:
    """What report.md and result.json say."""

    task: str
    seed: int
    level: str
    instruction: str
    simulator_instruction: str
    program: str
    grounding_message: str
    attended: list[str]
    grounding_correct: bool | None
    checkpoint: str
    success: bool | None = None
    program_choice_placed: bool | None = None
    steps: int = 0
    ik_failures: int = 0
    attention_lost_steps: int = 0
    error: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def _markdown(r: DemoReport) -> str:
    outcome = (
        "not run"
        if r.success is None
        else ("**success**" if r.success else "**failure** — the policy did not complete the task")
    )
    lines = [
        f"# codediffuser demo — {r.task}, seed {r.seed}",
        "",
        f"- instruction: “{r.instruction}”"
        + ("" if r.instruction == r.simulator_instruction else " (yours)"),
        f"- simulator's instruction (level `{r.level}`): “{r.simulator_instruction}”",
        f"- grounding: {r.grounding_message}"
        + (
            ""
            if r.grounding_correct is None
            else f" — {'correct' if r.grounding_correct else 'WRONG'} choice"
        ),
        f"- policy checkpoint: {r.checkpoint}",
        f"- outcome: {outcome}",
    ]
    if r.success is not None:
        lines += [
            f"- the program's own (object, target) choice placed: {r.program_choice_placed}",
            f"- control steps: {r.steps}; unreachable actions (IK): {r.ik_failures}; "
            f"steps with an attended object out of view: {r.attention_lost_steps}",
        ]
    if r.error:
        lines += [f"- error: {r.error}"]
    lines += ["", "## Program", "", "```python", r.program.rstrip(), "```", "", "## Timings", ""]
    lines += ["| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in r.timings_s.items()]
    lines += ["", f"Machine: {os.cpu_count()} CPU cores.", "", "## Files", ""]
    lines += [f"- `{name}`" for name in r.files]
    return "\n".join(lines) + "\n"


def _write(out: Path, report: DemoReport) -> None:
    report.files = sorted({*report.files, "report.md", "result.json"})
    (out / "result.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    (out / "report.md").write_text(_markdown(report))


def run_demo(args: argparse.Namespace, recipe: Recipe = DEMO_RECIPE) -> DemoReport:
    """Run the demo as configured and write its files; returns the report (also on failure)."""
    import torch

    from codediffuser.e2e_episode import (
        TrackedAttention,
        fuse,
        ground_instruction,
        run_policy,
        scene_metadata,
    )
    from codediffuser.e2e_pictures import mosaic_frame, save_attention_png, save_video
    from codediffuser.e2e_policy import resolve_checkpoint
    from codediffuser_codegen.composite import composite_image
    from codediffuser_codegen.sandbox import Sandbox
    from codediffuser_policy.checkpoint import load_policy
    from codediffuser_sim.env import SimConfig, make_env
    from codediffuser_sim.record import RecordConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    progress = not args.quiet

    def stage(name: str, t0: float) -> float:
        now = time.perf_counter()
        timings[name] = now - t0
        if progress:
            print(f"[demo] {name}: {timings[name]:.1f} s", flush=True)
        return now

    recipe = recipe.for_task(args.task)
    checkpoint, source = resolve_checkpoint(args.task, args.checkpoint, recipe, progress, args.shipped)
    policy = load_policy(checkpoint, seed=args.seed)
    policy.set_action_steps(args.action_steps or policy.config.max_action_steps)
    t = stage("policy checkpoint", started)

    env = make_env(args.task, SimConfig(width=recipe.width, height=recipe.height))
    obs = env.reset(args.seed, args.level)
    record = RecordConfig(n_points=policy.config.n_points)
    cloud = fuse(obs, record)
    t = stage("scene + fused cloud", t)

    llm = None
    if args.llm:
        from codediffuser_codegen.llm import LlmConfig

        llm = LlmConfig(model=args.model, base_url=args.base_url)
    instruction = args.instruction or env.instruction.text
    grounding = ground_instruction(env, cloud, instruction, Sandbox(), llm)
    result = grounding.result
    (out / "program.py").write_text(f"# instruction: {instruction}\n{result.program}")
    report = DemoReport(
        task=args.task,
        seed=args.seed,
        level=args.level,
        instruction=instruction,
        simulator_instruction=env.instruction.text,
        program=result.program,
        grounding_message=result.message,
        attended=[i.metadata.get("name", f"#{i.id}") for i in result.attended],
        grounding_correct=grounding.correct,
        checkpoint=source,
        files=["program.py"],
        timings_s=timings,
    )
    t = stage("program generation + run", t)
    if progress:
        print(f"[demo] “{instruction}” → {result.message}", flush=True)
    if result.attended:
        category = result.attended[0].category
        candidates = [i for i in grounding.candidates if i.category == category]
        composite_image(cloud, candidates).save(out / "composite.png")
        report.files.append("composite.png")
    if not result.success:
        report.error = f"no program could be run: {result.message}"
        timings["total"] = time.perf_counter() - started
        _write(out, report)
        return report

    tracker = TrackedAttention(scene_metadata(env), grounding.attended_ids)
    save_attention_png(out / "attention.png", cloud, tracker(cloud), f"“{instruction}”: 3D attention")
    report.files.append("attention.png")
    t = stage("3D attention", t)

    frames = []

    def on_step(step) -> None:
        frames.append(
            mosaic_frame(step.obs.views, grounding.attended_ids, f"step {step.step}: {instruction}")
        )

    max_steps = args.max_steps or env.max_steps
    rollout = run_policy(env, policy, obs, record, tracker, max_steps, seed=args.seed, on_step=on_step)
    ids = grounding.attended_ids
    report.success = rollout.success
    report.program_choice_placed = bool(env.placed(ids[0], ids[1])) if len(ids) >= 2 else None
    if instruction != env.instruction.text:  # the simulator's check is about its own instruction
        report.success = report.program_choice_placed
    final = env.observe()
    verdict = "success" if report.success else "failure"
    frames.append(mosaic_frame(final.views, ids, f"end ({verdict}): {instruction}"))
    t = stage("policy rollout", t)
    final_cloud = fuse(final, record)
    save_attention_png(
        out / "attention_final.png",
        final_cloud,
        tracker(final_cloud),
        f"attention after {rollout.steps} steps (followed by instance)",
    )
    save_video(out / "episode.mp4", frames, fps=env.config.control_hz)
    report.files += ["attention_final.png", "episode.mp4"]
    stage("pictures + video", t)
    report.steps, report.ik_failures = rollout.steps, rollout.ik_failures
    report.attention_lost_steps = rollout.attention_lost_steps
    timings["total"] = time.perf_counter() - started
    _write(out, report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 when the episode succeeded, 1 when the policy failed, 2 on bad input/errors."""
    args = build_parser().parse_args(argv)
    from codediffuser.e2e_policy import RecipeError
    from codediffuser_policy.checkpoint import CheckpointError
    from codediffuser_policy.config import ConfigError
    from codediffuser_sim.env import SimError

    if args.max_steps is not None and args.max_steps < 1:
        print("codediffuser demo: --max-steps must be >= 1", file=sys.stderr)
        return 2
    try:
        report = run_demo(args)
    except (RecipeError, CheckpointError, ConfigError, SimError) as exc:
        print(f"codediffuser demo: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    verdict = {True: "SUCCESS", False: "FAILURE", None: "NOT RUN"}[report.success]
    print(f"[demo] {verdict} in {report.timings_s.get('total', 0.0):.0f} s — see {args.out / 'report.md'}")
    return {True: 0, False: 1, None: 2}[report.success]


if __name__ == "__main__":
    sys.exit(main())
