"""Success rate of the scripted experts (issue #10 asks for ≥ 80 % over 20 seeds per task).

Seeds 0 … N−1 per task, the ambiguity level cycling none → object → target → both (the level changes
which pair the demonstration moves). Physics only (no cameras): success does not depend on rendering.
A seed whose episode cannot be planned counts as a failure.

    python benchmarks/expert.py [--seeds 20] [--tasks pack_battery hang_mug stow_books] [--json]

Last line: the lowest per-task success rate.
"""

from __future__ import annotations

import argparse
import json
import time

from codediffuser_sim.env import SimConfig, SimError, make_env
from codediffuser_sim.expert import ExpertError, run_expert
from codediffuser_sim.instructions import LEVELS


def measure(task: str, seeds: int) -> dict[str, object]:
    """Run the expert on `seeds` episodes of `task`; success rate, failures, seconds per episode."""
    env = make_env(task, SimConfig(render=False))
    successes, failures = 0, []
    start = time.perf_counter()
    for seed in range(seeds):
        try:
            env.reset(seed, LEVELS[seed % len(LEVELS)])
            ok = bool(run_expert(env)["success"])
        except (SimError, ExpertError) as exc:
            ok = False
            failures.append({"seed": seed, "error": str(exc)})
        else:
            if not ok:
                failures.append({"seed": seed, "error": "success check false after the expert"})
        successes += ok
    return {
        "task": task,
        "seeds": seeds,
        "success_rate": successes / seeds,
        "s_per_episode": (time.perf_counter() - start) / seeds,
        "failures": failures,
    }


def main() -> None:
    """Parse arguments, measure each task, print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--tasks", nargs="+", default=["pack_battery", "hang_mug", "stow_books"])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    rows = [measure(task, args.seeds) for task in args.tasks]
    worst = min(row["success_rate"] for row in rows)
    if args.json:
        print(json.dumps({"tasks": rows, "min_success_rate": worst}))
        return
    for row in rows:
        print(
            f"{row['task']:<14} success {row['success_rate']:6.1%} over {row['seeds']} seeds"
            f"  ({row['s_per_episode']:.2f} s/episode, physics only)"
        )
        for failure in row["failures"]:
            print(f"    seed {failure['seed']}: {failure['error']}")
    print(f"min expert success rate: {worst:.1%} (target ≥ 80%)")


if __name__ == "__main__":
    main()
