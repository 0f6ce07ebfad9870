"""Simulator throughput: physics alone, physics + four 640×480 RGB-D cameras, and demonstrations/minute.

1. Physics: Pack Battery scene (both arms, gravity compensation, drive targets every substep), the arms
   holding a command; physics steps per second (500 Hz physics: real time = 500 steps/s).
2. Rendering: the same with the four cameras of config/cameras_sim.yaml rendered at `--width`×`--height`
   (default 640×480) every control step: control steps/s and ms per 4-camera frame.
3. Generator: `record_episode` as `codediffuser generate` runs it (160×120 cameras, fusion, 1024 points):
   demonstrations per minute.

    python benchmarks/sim.py [--control-steps 50] [--demos 2] [--json]

Last line: demos/minute and the cost of rendering (physics-only / rendered control-step rate).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from codediffuser_sim.env import SimConfig, make_env
from codediffuser_sim.record import RecordConfig, record_episode


def physics_rate(control_steps: int) -> dict[str, float]:
    """Physics steps/s with the arms holding their pose (no cameras)."""
    env = make_env("pack_battery", SimConfig(render=False))
    obs = env.reset(0, "none")
    hold = obs.joint_pos.astype(np.float64)
    start = time.perf_counter()
    for _ in range(control_steps):
        env.step(hold)
    elapsed = time.perf_counter() - start
    return {
        "physics_steps_per_s": control_steps * env.config.substeps / elapsed,
        "control_steps_per_s": control_steps / elapsed,
    }


def render_rate(control_steps: int, width: int, height: int) -> dict[str, float]:
    """Control steps/s with the four cameras rendered each step, and ms per 4-camera frame."""
    env = make_env("pack_battery", SimConfig(render=True, width=width, height=height))
    obs = env.reset(0, "none")  # the first frame compiles the shaders: not timed
    hold = obs.joint_pos.astype(np.float64)
    start = time.perf_counter()
    for _ in range(control_steps):
        env.step(hold)
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(max(3, control_steps // 5)):
        env.observe()
    frame_ms = 1000 * (time.perf_counter() - start) / max(3, control_steps // 5)
    return {"rendered_control_steps_per_s": control_steps / elapsed, "frame_4cams_ms": frame_ms}


def demo_rate(demos: int) -> dict[str, float]:
    """Recorded demonstrations per minute at the generator's defaults."""
    env = make_env("pack_battery", SimConfig())
    config = RecordConfig()
    env.reset(0, "none")  # shader compilation: not timed
    start = time.perf_counter()
    steps = 0
    for seed in range(demos):
        arrays, _ = record_episode(env, seed, "none", config)
        steps += len(arrays["action"])
    elapsed = time.perf_counter() - start
    return {"demos_per_minute": 60 * demos / elapsed, "recorded_steps_per_s": steps / elapsed}


def main() -> None:
    """Parse arguments, run the three measurements, print them (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control-steps", type=int, default=50)
    parser.add_argument("--demos", type=int, default=2)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = {
        **physics_rate(args.control_steps),
        **render_rate(args.control_steps, args.width, args.height),
        **demo_rate(args.demos),
    }
    result["render_slowdown"] = result["control_steps_per_s"] / result["rendered_control_steps_per_s"]
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"physics alone: {result['physics_steps_per_s']:.0f} steps/s ({result['control_steps_per_s']:.1f} control steps/s)"
    )
    print(
        f"with 4 cameras at {args.width}×{args.height}: {result['rendered_control_steps_per_s']:.2f} control steps/s,"
        f" {result['frame_4cams_ms']:.0f} ms per 4-camera frame"
    )
    print(
        f"demos/minute: {result['demos_per_minute']:.1f}; rendering slows control {result['render_slowdown']:.1f}×"
    )


if __name__ == "__main__":
    main()
