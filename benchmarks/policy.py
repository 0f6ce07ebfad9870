"""Policy cost on this machine: parameters, DDPM-100 vs DDIM-10 latency per chunk, training samples/s.

Latency is one `sample_actions` call (encoder + full denoising chain) for one observation history, the
median of `--repeats` runs after a warm-up; the headline is how much faster DDIM-10 is than DDPM-100
(issue #6 asks for ≥ 8×). Training throughput is windows per second through `compute_loss`, backward
and an AdamW step on synthetic batches with the chosen preset. Nothing here is a test: numbers depend
on the machine and its load (`uptime` is printed with them).

    python benchmarks/policy.py [--preset cpu|paper|tiny] [--batch-size 32] [--threads 1] [--json]

Last line: the DDPM-100 / DDIM-10 latency ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from codediffuser_policy.config import PRESETS, model_config
from codediffuser_policy.dataset import MinMax
from codediffuser_policy.policy import DiffusionPolicy
from codediffuser_policy.synthetic import WORKSPACE_MAX, WORKSPACE_MIN, synthetic_episode


def _batch(policy: DiffusionPolicy, batch_size: int) -> dict[str, torch.Tensor]:
    """A synthetic training batch of `PolicyDataset` layout at the policy's sizes."""
    cfg = policy.config
    episode = synthetic_episode(max(cfg.horizon, 4), cfg.n_points, seed=0)
    to, h = cfg.n_obs_steps, cfg.horizon
    return {
        "point_cloud": torch.from_numpy(np.repeat(episode["point_cloud"][None, :to], batch_size, axis=0)),
        "attention": torch.from_numpy(np.repeat(episode["attention"][None, :to], batch_size, axis=0)),
        "agent_pos": torch.from_numpy(np.repeat(episode["agent_pos"][None, :to], batch_size, axis=0)),
        "action": torch.from_numpy(np.repeat(episode["action"][None, :h], batch_size, axis=0)),
    }


def _latencies_s(
    policy: DiffusionPolicy, batch: dict[str, torch.Tensor], runs: dict[str, tuple[str, int]], repeats: int
) -> dict[str, float]:
    """Median seconds per `sample_actions` call for each named (sampler, steps).

    The samplers alternate within each repeat, so a load spike from other processes on the machine
    hits both sides of the ratio rather than one.
    """
    obs = [batch[k][:1] for k in ("point_cloud", "attention", "agent_pos")]
    times: dict[str, list[float]] = {name: [] for name in runs}
    for sampler, steps in runs.values():  # warm-up
        policy.sample_actions(*obs, sampler=sampler, num_inference_steps=steps)
    for _ in range(repeats):
        for name, (sampler, steps) in runs.items():
            start = time.perf_counter()
            policy.sample_actions(*obs, sampler=sampler, num_inference_steps=steps)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _train_samples_per_s(policy: DiffusionPolicy, batch: dict[str, torch.Tensor], steps: int) -> float:
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-4)
    policy.train()
    policy.compute_loss(batch).backward()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        loss = policy.compute_loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    policy.eval()
    return steps * len(batch["action"]) / (time.perf_counter() - start)


def measure(preset: str, batch_size: int, repeats: int, train_steps: int) -> dict[str, object]:
    """All figures for one preset."""
    torch.manual_seed(0)
    cfg = model_config(preset, workspace_min=WORKSPACE_MIN, workspace_max=WORKSPACE_MAX)
    policy = DiffusionPolicy(cfg).eval()
    episode = synthetic_episode(cfg.horizon, cfg.n_points, seed=0)
    policy.normalizer.set_stats({key: MinMax.fit(episode[key]) for key in ("action", "agent_pos")})
    batch = _batch(policy, batch_size)
    latency = _latencies_s(
        policy,
        batch,
        {"ddpm": ("ddpm", cfg.num_train_timesteps), "ddim": ("ddim", cfg.num_inference_steps)},
        repeats,
    )
    ddpm, ddim = latency["ddpm"], latency["ddim"]
    return {
        "preset": preset,
        "n_points": cfg.n_points,
        "down_dims": list(cfg.down_dims),
        "parameters": sum(p.numel() for p in policy.parameters()),
        "encoder_parameters": sum(p.numel() for p in policy.encoder.parameters()),
        "ddpm_steps": cfg.num_train_timesteps,
        "ddim_steps": cfg.num_inference_steps,
        "ddpm_latency_ms": 1000 * ddpm,
        "ddim_latency_ms": 1000 * ddim,
        "ddpm_over_ddim": ddpm / ddim,
        "train_batch_size": batch_size,
        "train_samples_per_s": _train_samples_per_s(policy, batch, train_steps),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0],
    }


def main() -> None:
    """Parse arguments, measure, print a table (or JSON); the last line is the latency ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    parser.add_argument("--batch-size", type=int, default=32, help="training windows per step")
    parser.add_argument("--repeats", type=int, default=5, help="timed sampling runs per sampler")
    parser.add_argument("--train-steps", type=int, default=5, help="timed optimiser steps")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (0 = torch's default); 1 by default: on the shared 2-core machine two threads "
        "thrashed under other load (DDPM-100 took 44 s instead of 0.4 s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure(args.preset, args.batch_size, args.repeats, args.train_steps)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>22}: {value:.2f}" if isinstance(value, float) else f"{key:>22}: {value}")
    print(
        f"DDPM-{result['ddpm_steps']} / DDIM-{result['ddim_steps']} latency ratio: {result['ddpm_over_ddim']:.1f}x"
    )


if __name__ == "__main__":
    main()
