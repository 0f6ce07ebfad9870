"""`codediffuser generate`: record scripted demonstrations of a task into a zarr dataset (docs/dataset.md).

Seeds run upwards from `--seed`; with `--level all` the levels cycle none → object → target → both.
Only successful demonstrations are stored (a failed or unplannable seed is skipped and counted).
Resumable: rerunning with the same output continues after the highest seed already stored until the
store holds `--episodes` episodes.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from codediffuser_sim.instructions import LEVELS

MAX_SEED_FACTOR = 3
"""Give up after trying this many seeds per requested episode (the expert succeeds on most)."""


def build_parser() -> argparse.ArgumentParser:
    """The `codediffuser generate` options."""
    from codediffuser_sim.env import TASK_REGISTRY

    p = argparse.ArgumentParser(prog="codediffuser generate", description=__doc__.splitlines()[0])
    p.add_argument("--task", required=True, choices=sorted(TASK_REGISTRY), help="task to record")
    p.add_argument("--episodes", type=int, default=50, help="episodes the store must hold at the end")
    p.add_argument(
        "--level", default="all", choices=[*LEVELS, "all"], help="ambiguity level of the instructions"
    )
    p.add_argument("--out", type=Path, default=None, help="zarr store (default data/<task>.zarr)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--config", type=Path, default=None, help="sim YAML (config/sim.yaml); flags override it")
    p.add_argument("--n-points", type=int, default=None, help="points per step (default 1024)")
    p.add_argument("--width", type=int, default=None, help="camera image width (default 160)")
    p.add_argument("--height", type=int, default=None, help="camera image height (default 120)")
    p.add_argument("--control-hz", type=float, default=None, help="control rate (default 10)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    import codediffuser_sim.tasks  # noqa: F401  (fills the registry the parser lists)

    args = build_parser().parse_args(argv)
    if args.episodes <= 0:
        print("--episodes must be > 0", file=sys.stderr)
        return 2
    import zarr
    from tqdm import tqdm

    from codediffuser_sim.config import load_sim_config
    from codediffuser_sim.env import SimConfig, SimError, make_env
    from codediffuser_sim.expert import ExpertError
    from codediffuser_sim.record import RecordConfig, open_writer, record_episode, task_record_config

    out = args.out or Path("data") / f"{args.task}.zarr"
    sim, config = load_sim_config(args.config) if args.config else (SimConfig(), RecordConfig())
    overrides = {"control_hz": args.control_hz, "width": args.width, "height": args.height}
    sim = dataclasses.replace(sim, render=True, **{k: v for k, v in overrides.items() if v is not None})
    if args.n_points is not None:
        config = dataclasses.replace(config, n_points=args.n_points)
    env = make_env(args.task, sim)
    config = task_record_config(config, env)
    writer = open_writer(out, env, config)
    done_seeds = [e["seed"] for e in zarr.open_group(str(out), mode="r")["meta"].attrs["episodes"]]
    seed = max(done_seeds) + 1 if done_seeds else args.seed
    levels = LEVELS if args.level == "all" else (args.level,)
    todo = args.episodes - writer.n_episodes
    env.cameras.capture({})  # the first picture compiles the shaders: not timed
    skipped, recorded, start = 0, 0, time.perf_counter()
    with tqdm(total=max(todo, 0), desc=f"generate {args.task}", unit="ep") as bar:
        limit = seed + MAX_SEED_FACTOR * max(todo, 0)
        while writer.n_episodes < args.episodes and seed < limit:
            level = levels[seed % len(levels)]
            try:
                steps, attrs = record_episode(env, seed, level, config)
            except (SimError, ExpertError) as exc:
                tqdm.write(f"seed {seed}: skipped ({exc})")
                attrs = None
            if attrs is not None and attrs["success"]:
                writer.add_episode(steps, **attrs)
                recorded += 1
                bar.update(1)
            else:
                skipped += 1
            seed += 1
    elapsed = time.perf_counter() - start
    rate = recorded / elapsed if elapsed > 0 else 0.0
    print(
        f"{out}: {writer.n_episodes} episodes ({recorded} new, {skipped} seeds skipped) in {elapsed:.1f} s"
        f" — {rate:.3f} episodes/s"
    )
    return 0 if writer.n_episodes >= args.episodes else 1


if __name__ == "__main__":
    sys.exit(main())
