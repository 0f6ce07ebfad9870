"""Policy checkpoints: one file with everything needed to deploy or resume a training run.

Contents (a plain dict, loaded with `torch.load(weights_only=True)`, so opening a file never runs code):
`format`, `model_config` (ModelConfig fields), `train_config` (TrainConfig fields without the model),
`model` (raw weights + normaliser buffers), `ema_model` (the same with EMA weights: what deployment
uses), `ema` (EMA state), `optimizer`, `lr_scheduler`, `step`, `epoch`. Writes are atomic (temporary
file + rename), so an interrupted save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from codediffuser_policy.config import ConfigError, ModelConfig
from codediffuser_policy.policy import DiffusionPolicy

CHECKPOINT_FORMAT = "codediffuser-policy-v1"
"""Value of the `format` entry; other values are refused."""
REQUIRED_KEYS = ("format", "model_config", "model", "ema_model", "step", "epoch")
"""Entries every checkpoint has (training state entries are only needed to resume)."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, corrupt, of another format, or not matching the model."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Atomically write `payload` (see the module docstring) to `path`, adding `format`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint.

    Raises:
        CheckpointError: the file is missing, unreadable/truncated, not a policy checkpoint, or of
            another format version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: train one with `codediffuser train`")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as error:
        raise CheckpointError(
            f"{path} is corrupt or not a torch checkpoint ({type(error).__name__}: {error}); "
            "re-train or restore it from a backup"
        ) from error
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} holds a {type(payload).__name__}, not a policy checkpoint dict")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} has format {payload.get('format')!r}, this code reads {CHECKPOINT_FORMAT!r}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}: it was not written by this code's trainer")
    return payload


FIELDS_ADDED_LATER: dict[str, Any] = {"input_branch": False}
"""`ModelConfig` fields newer than some checkpoints, with the value that rebuilds those checkpoints' model."""


def model_config_from(payload: dict[str, Any], path: str | Path = "<checkpoint>") -> ModelConfig:
    """The `ModelConfig` stored in a loaded checkpoint.

    Raises:
        CheckpointError: the stored configuration has unknown fields or invalid values.
    """
    values = {**FIELDS_ADDED_LATER, **payload["model_config"]}
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = set(values) - known
    if unknown:
        raise CheckpointError(f"{path}: unknown model configuration fields {sorted(unknown)}")
    try:
        return ModelConfig(**values)
    except (ConfigError, TypeError) as error:
        raise CheckpointError(f"{path}: invalid model configuration: {error}") from error


def load_state(module: torch.nn.Module, state: dict[str, Any], what: str) -> None:
    """`module.load_state_dict(state)` with a `CheckpointError` naming the mismatching tensors."""
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"{what} does not match the model: {error}") from error


def load_policy(
    path: str | Path,
    use_ema: bool = True,
    device: str | torch.device = "cpu",
    seed: int = 0,
    n_action_steps: int | None = None,
    num_inference_steps: int | None = None,
) -> DiffusionPolicy:
    """A ready-to-run policy (normaliser included) from a training checkpoint.

    Args:
        path: checkpoint file (`<run>/latest.pt`).
        use_ema: load the EMA weights (what training validates and what should be deployed).
        device: torch device.
        seed: the policy's sampling seed (see `DiffusionPolicy.reset`).
        n_action_steps: actions executed per prediction; None keeps the checkpoint's. A deployment
            choice (diffusion_policy's real-robot evaluation sets it too): every prediction may pick
            another mode, so fewer, longer chunks switch less. On Pack Battery a policy trained with 8
            reached an allowed battery in 6/16 rollouts executing 8, in 13/16 executing 15.
        num_inference_steps: DDIM steps; None keeps the checkpoint's.

    Raises:
        CheckpointError: see `load_checkpoint`; also when the weights do not fit the stored config.
        ConfigError: an override outside what the stored model allows (e.g. more actions than
            `horizon - n_obs_steps + 1`).
    """
    payload = load_checkpoint(path, map_location=device)
    config = model_config_from(payload, path)
    if num_inference_steps is not None:
        config = dataclasses.replace(config, num_inference_steps=num_inference_steps)
    policy = DiffusionPolicy(config, seed=seed)
    if n_action_steps is not None:
        policy.set_action_steps(n_action_steps)
    load_state(
        policy,
        payload["ema_model" if use_ema else "model"],
        f"{path} ({'EMA' if use_ema else 'raw'} weights)",
    )
    if not bool(policy.normalizer.fitted):
        raise CheckpointError(f"{path}: the normaliser was never fitted (an unfinished training run?)")
    return policy.to(device).eval()
