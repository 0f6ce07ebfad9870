"""Evaluation harness: run any policy for K episodes per (task, level), report success and length.

A policy is a callable `policy(env, obs)` returning either a (14,) joint command (one control step) or
an `ActionChunk` of end-effector targets (executed open-loop, each through IK from the measured joints —
the action-horizon execution of diffusion policies). An optional `policy.reset(env)` is called after every
episode reset (the policy can read `env.instruction`). An episode ends on success, after
`max_steps` control steps, or when an action cannot be executed (unreachable pose); the reason is recorded.
Optionally each episode is filmed by a free camera (MP4 via imageio-ffmpeg).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from codediffuser_perception.types import ActionChunk
from codediffuser_policy.kinematics import UnreachablePose
from codediffuser_sim.cameras import CameraRig, CameraSpec
from codediffuser_sim.env import Observation, SimConfig, TaskEnv, ee_action_to_command, make_env
from codediffuser_sim.expert import expert_commands

Policy = Callable[[TaskEnv, Observation], "np.ndarray | ActionChunk"]
VIDEO_CAMERA = CameraSpec(
    "video", (0.0, -0.75, 0.55), (0.0, 0.05, 0.05), fovy_deg=50.0, width=320, height=240
)
"""The free camera that films evaluation episodes (front view, the operator's)."""


@dataclass
class EpisodeResult:
    """One evaluated episode."""

    task: str
    level: str
    seed: int
    instruction: str
    success: bool
    steps: int
    end: str
    video: str | None = None


@dataclass
class EvalConfig:
    """What to evaluate.

    Attributes:
        tasks: registered task names.
        levels: ambiguity levels.
        episodes: episodes per (task, level); seeds `seed`, `seed + 1`, … (the same for every policy).
        seed: first seed.
        max_steps: control steps per episode (None = the task's `max_steps`, from its `max_duration_s`).
        video_dir: where MP4s go (None = no video).
    """

    tasks: Sequence[str]
    levels: Sequence[str]
    episodes: int = 5
    seed: int = 1000
    max_steps: int | None = None
    video_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.episodes <= 0:
            raise ValueError(f"episodes must be > 0, got {self.episodes}")


class ExpertPolicy:
    """The scripted expert as a policy callable (a reference row for evaluation tables)."""

    def __init__(self) -> None:
        self._commands: list[np.ndarray] = []

    def reset(self, env: TaskEnv) -> None:
        self._commands = expert_commands(env)

    def __call__(self, env: TaskEnv, obs: Observation) -> np.ndarray:
        return self._commands.pop(0) if self._commands else obs.joint_pos.astype(np.float64)


def _commands_for(env: TaskEnv, obs: Observation, output) -> list[np.ndarray]:
    if isinstance(output, ActionChunk):
        return [ee_action_to_command(env, action) for action in output.actions]
    return [np.asarray(output, dtype=np.float64)]


def run_episode(
    env: TaskEnv, policy: Policy, seed: int, level: str, max_steps: int, video: CameraRig | None
) -> tuple[EpisodeResult, list[np.ndarray]]:
    """One episode; returns its result and the video frames (empty without a video camera)."""
    obs = env.reset(seed, level)
    reset = getattr(policy, "reset", None)
    if reset is not None:
        reset(env)
    frames = [video.capture({})[0].rgb] if video is not None else []
    end = "timeout"
    while env.elapsed_steps < max_steps:
        try:
            commands = _commands_for(env, obs, policy(env, obs))
        except UnreachablePose as exc:
            end = f"unreachable: {exc}"
            break
        for command in commands[: max_steps - env.elapsed_steps]:
            obs = env.step(command)
            if video is not None:
                frames.append(video.capture({})[0].rgb)
        if env.evaluate()["success"]:
            end = "success"
            break
    success = bool(env.evaluate()["success"])
    result = EpisodeResult(env.name, level, seed, env.instruction.text, success, env.elapsed_steps, end)
    return result, frames


def evaluate(policy: Policy, config: EvalConfig, sim: SimConfig | None = None) -> list[EpisodeResult]:
    """Run `policy` over every (task, level) of `config`; deterministic seeds make policies comparable."""
    import imageio.v2 as imageio

    results = []
    for task in config.tasks:
        env = make_env(task, sim)
        video = CameraRig(env.scene, [VIDEO_CAMERA]) if config.video_dir is not None else None
        max_steps = config.max_steps or env.max_steps
        for level in config.levels:
            for k in range(config.episodes):
                result, frames = run_episode(env, policy, config.seed + k, level, max_steps, video)
                if config.video_dir is not None:
                    path = Path(config.video_dir) / f"{task}_{level}_{result.seed}.mp4"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    imageio.mimwrite(path, frames, fps=env.config.control_hz, macro_block_size=8)
                    result.video = str(path)
                results.append(result)
    return results


def summarize(results: Sequence[EpisodeResult]) -> list[dict[str, object]]:
    """One row per (task, level): episodes, success rate, mean episode length (control steps)."""
    rows = []
    keys = sorted({(r.task, r.level) for r in results})
    for task, level in keys:
        group = [r for r in results if r.task == task and r.level == level]
        rows.append(
            {
                "task": task,
                "level": level,
                "episodes": len(group),
                "success_rate": float(np.mean([r.success for r in group])),
                "mean_steps": float(np.mean([r.steps for r in group])),
            }
        )
    return rows


def markdown_table(rows: Sequence[dict[str, object]]) -> str:
    """The summary rows as a markdown table."""
    lines = ["| task | level | episodes | success | mean steps |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['task']} | {row['level']} | {row['episodes']} | {row['success_rate']:.0%} | {row['mean_steps']:.1f} |"
        )
    return "\n".join(lines)


def write_report(results: Sequence[EpisodeResult], out_dir: Path) -> tuple[Path, Path]:
    """Write `results.json` (episodes + summary) and `results.md` (the table) into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = summarize(results)
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    json_path.write_text(json.dumps({"summary": rows, "episodes": [asdict(r) for r in results]}, indent=2))
    md_path.write_text(markdown_table(rows) + "\n")
    return json_path, md_path
