"""Policy and training configuration: one schema for YAML presets, CLI flags and ROS parameters.

Every field is documented and validated in `__post_init__` with an error that shows the bad value. The
training CLI is generated from these dataclasses (`add_arguments` / `from_arguments`), so a flag exists
for each field and nowhere else.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin

from codediffuser_perception.types import ACTION_DIM

BETA_SCHEDULES = ("squaredcos_cap_v2", "linear", "scaled_linear")
"""diffusers beta schedules a policy may be trained with."""


class ConfigError(ValueError):
    """A configuration value out of range or of the wrong kind; the message names the field and value."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass
class ModelConfig:
    """Architecture, diffusion and observation settings: everything needed to rebuild a policy.

    Saved in every checkpoint; a policy is rebuilt from it alone (plus the weights).

    Attributes:
        use_attention: feed the per-point 3D attention as a 4th input channel (CodeDiffuser); False is
            the paper's baseline, a plain point-cloud diffusion policy on xyz only.
        n_points: points per observation after `crop_and_sample`.
        workspace_min, workspace_max: crop box in the world frame (metres), copied from the dataset.
        control_hz: rate of the recorded steps; actions are `1 / control_hz` seconds apart.
        sa_npoints: centres drawn by farthest-point sampling in each set-abstraction layer (capped at the
            points available).
        sa_radii: ball-query radius of each set-abstraction layer, metres.
        sa_nsamples: neighbours gathered per centre in each set-abstraction layer.
        sa_channels: width of each set-abstraction layer's residual MLP; one more entry than the
            layers above, the last being the group-all layer.
        sa_res_blocks: residual blocks per set-abstraction MLP.
        input_branch: add the encoder's per-point input branch (every point's xyz + attention through a
            shared MLP, max-pooled) to the set-abstraction feature, so no attended point is missed.
        obs_feature_dim: point-cloud embedding per observation frame.
        use_agent_pos: condition on the current end-effector state (low-dimensional observation).
        horizon: actions predicted per denoising run (prediction horizon).
        n_obs_steps: observation frames conditioning a prediction (To).
        n_action_steps: actions executed from each prediction (Ta), starting at the current step.
        down_dims: ConditionalUnet1D channel widths per resolution.
        kernel_size: temporal convolution kernel of the UNet.
        n_groups: GroupNorm groups of the UNet (must divide every width).
        diffusion_step_embed_dim: sinusoidal timestep embedding width.
        num_train_timesteps: DDPM noise levels used in training.
        beta_schedule: diffusers beta schedule name.
        num_inference_steps: DDIM denoising steps at inference.
    """

    use_attention: bool = True
    n_points: int = 512
    workspace_min: tuple[float, ...] = (-0.5, -0.4, -0.05)
    workspace_max: tuple[float, ...] = (0.5, 0.4, 0.5)
    control_hz: float = 10.0
    sa_npoints: tuple[int, ...] = (128, 32)
    sa_radii: tuple[float, ...] = (0.04, 0.1)
    sa_nsamples: tuple[int, ...] = (16, 32)
    sa_channels: tuple[int, ...] = (32, 64, 128)
    sa_res_blocks: int = 1
    input_branch: bool = True
    obs_feature_dim: int = 128
    use_agent_pos: bool = True
    horizon: int = 16
    n_obs_steps: int = 2
    n_action_steps: int = 8
    down_dims: tuple[int, ...] = (64, 128, 256)
    kernel_size: int = 5
    n_groups: int = 8
    diffusion_step_embed_dim: int = 128
    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    num_inference_steps: int = 10

    def __post_init__(self) -> None:
        for name in ("sa_npoints", "sa_radii", "sa_nsamples", "sa_channels", "down_dims"):
            setattr(self, name, tuple(getattr(self, name)))
        self.workspace_min = tuple(float(v) for v in self.workspace_min)
        self.workspace_max = tuple(float(v) for v in self.workspace_max)
        _check(self.n_points >= 1, f"n_points must be >= 1, got {self.n_points}")
        _check(
            len(self.workspace_min) == 3
            and len(self.workspace_max) == 3
            and all(a < b for a, b in zip(self.workspace_min, self.workspace_max, strict=True)),
            f"workspace_min/max must be (3,) with min < max, got {self.workspace_min} .. {self.workspace_max}",
        )
        _check(self.control_hz > 0, f"control_hz must be > 0, got {self.control_hz}")
        n_sa = len(self.sa_npoints)
        _check(n_sa >= 1, f"sa_npoints needs at least one layer, got {self.sa_npoints}")
        _check(
            len(self.sa_radii) == n_sa and len(self.sa_nsamples) == n_sa,
            f"sa_radii {self.sa_radii} and sa_nsamples {self.sa_nsamples} need {n_sa} entries like sa_npoints",
        )
        _check(
            len(self.sa_channels) == n_sa + 1,
            f"sa_channels needs {n_sa + 1} entries (one per layer + group-all), got {self.sa_channels}",
        )
        _check(all(v >= 1 for v in self.sa_npoints), f"sa_npoints must be >= 1, got {self.sa_npoints}")
        _check(all(v > 0 for v in self.sa_radii), f"sa_radii must be > 0, got {self.sa_radii}")
        _check(all(v >= 1 for v in self.sa_nsamples), f"sa_nsamples must be >= 1, got {self.sa_nsamples}")
        _check(all(v >= 1 for v in self.sa_channels), f"sa_channels must be >= 1, got {self.sa_channels}")
        _check(self.sa_res_blocks >= 0, f"sa_res_blocks must be >= 0, got {self.sa_res_blocks}")
        _check(self.obs_feature_dim >= 1, f"obs_feature_dim must be >= 1, got {self.obs_feature_dim}")
        _check(self.horizon >= 1, f"horizon must be >= 1, got {self.horizon}")
        _check(
            1 <= self.n_obs_steps <= self.horizon,
            f"n_obs_steps must be in 1..horizon ({self.horizon}), got {self.n_obs_steps}",
        )
        _check(
            1 <= self.n_action_steps <= self.max_action_steps,
            f"n_action_steps must be in 1..{self.horizon - self.n_obs_steps + 1} "
            f"(horizon - n_obs_steps + 1), got {self.n_action_steps}",
        )
        _check(len(self.down_dims) >= 1, f"down_dims needs at least one width, got {self.down_dims}")
        _check(
            self.horizon % 2 ** (len(self.down_dims) - 1) == 0,
            f"horizon ({self.horizon}) must be divisible by 2**(len(down_dims) - 1) = "
            f"{2 ** (len(self.down_dims) - 1)} for the UNet's down/up-sampling",
        )
        _check(
            all(d % self.n_groups == 0 for d in self.down_dims),
            f"every down_dims width must be divisible by n_groups ({self.n_groups}), got {self.down_dims}",
        )
        _check(self.kernel_size % 2 == 1, f"kernel_size must be odd, got {self.kernel_size}")
        _check(
            self.diffusion_step_embed_dim >= 2 and self.diffusion_step_embed_dim % 2 == 0,
            f"diffusion_step_embed_dim must be even and >= 2, got {self.diffusion_step_embed_dim}",
        )
        _check(
            self.num_train_timesteps >= 1, f"num_train_timesteps must be >= 1, got {self.num_train_timesteps}"
        )
        _check(
            self.beta_schedule in BETA_SCHEDULES,
            f"beta_schedule must be one of {BETA_SCHEDULES}, got {self.beta_schedule!r}",
        )
        _check(
            1 <= self.num_inference_steps <= self.num_train_timesteps,
            f"num_inference_steps must be in 1..{self.num_train_timesteps}, got {self.num_inference_steps}",
        )

    @property
    def in_channels(self) -> int:
        """Per-point input channels: xyz, plus attention unless this is the baseline."""
        return 4 if self.use_attention else 3

    @property
    def action_dim(self) -> int:
        return ACTION_DIM

    @property
    def dt_s(self) -> float:
        return 1.0 / self.control_hz

    @property
    def max_action_steps(self) -> int:
        """The longest executable chunk: the predicted actions from the current step on."""
        return self.horizon - self.n_obs_steps + 1


PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {},
    "tiny": {
        "n_points": 64,
        "sa_npoints": (32, 8),
        "sa_radii": (0.05, 0.1),
        "sa_nsamples": (8, 8),
        "sa_channels": (16, 32, 32),
        "obs_feature_dim": 32,
        "down_dims": (16, 32),
        "horizon": 8,
        "n_action_steps": 4,
        "diffusion_step_embed_dim": 16,
    },
    "paper": {
        "n_points": 1024,
        "sa_npoints": (512, 128),
        "sa_radii": (0.02, 0.045),
        "sa_nsamples": (32, 64),
        "sa_channels": (128, 256, 512),
        "sa_res_blocks": 2,
        "obs_feature_dim": 256,
        "down_dims": (512, 1024, 2048),
        "diffusion_step_embed_dim": 256,
    },
}
"""Named model sizes: `cpu` (the defaults: ≈ 0.26 s encoder forward+backward per 32 windows on 2 cores),
`tiny` (tests), `paper` (the paper's set abstraction 512/0.02/32, 128/0.045/64 and UNet widths; GPU)."""


@dataclass
class TrainConfig:
    """One training run: data, optimisation, checkpointing. The model is described by `model`.

    Attributes:
        data: zarr store written by `DatasetWriter`.
        out: run directory (checkpoints, metrics.csv, TensorBoard events).
        model: the architecture (the CLI exposes its fields as flags too).
        preset: a key of `PRESETS` applied before explicit flags.
        seed: seeds torch, numpy, the episode split and point re-sampling.
        val_ratio: fraction of episodes held out for the validation loss.
        batch_size: windows per optimiser step.
        num_epochs: passes over the training windows; the LR schedule spans all of them.
        max_steps: stop (and checkpoint) after this many optimiser steps in total, e.g. to split a run
            into sessions continued with `resume`; 0 = run all epochs.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        lr_scheduler: diffusers scheduler name (cosine with warm-up by default).
        lr_warmup_steps: linear warm-up steps.
        grad_clip_norm: max global gradient norm; 0 disables clipping.
        translate_m: shift each training window's scene and motion by a random horizontal offset of up
            to this many metres (`augment.WindowAugmentation`); 0 trains on the windows as recorded.
        mirror: mirror half of the training windows about the plane between the arms, the other arm
            doing the mirrored motion (`augment.WindowAugmentation`; ALOHA's bases are symmetric).
            Only for tasks whose mirrored layouts occur (`TaskEnv.mirror_symmetric`): not Hang Mug,
            whose handles always point towards +x.
        ema_power: EMA warm-up power (decay = 1 - (1 + step)^-power, capped at `ema_max_decay`).
        ema_max_decay: upper bound on the EMA decay.
        checkpoint_every_epochs: write `latest.pt` every this many epochs (always at the end).
        val_every_epochs: compute the validation loss every this many epochs.
        num_workers: DataLoader worker processes (0 = in the main process).
        resume: continue from `out/latest.pt`.
        device: torch device string.
    """

    data: str = ""
    out: str = "runs/policy"
    model: ModelConfig = field(default_factory=ModelConfig)
    preset: str = "cpu"
    seed: int = 0
    val_ratio: float = 0.1
    batch_size: int = 32
    num_epochs: int = 100
    max_steps: int = 0
    lr: float = 1e-4
    weight_decay: float = 1e-6
    lr_scheduler: str = "cosine"
    lr_warmup_steps: int = 100
    grad_clip_norm: float = 1.0
    translate_m: float = 0.0
    mirror: bool = False
    ema_power: float = 0.75
    ema_max_decay: float = 0.9999
    checkpoint_every_epochs: int = 10
    val_every_epochs: int = 1
    num_workers: int = 0
    resume: bool = False
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check(self.preset in PRESETS, f"preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
        _check(0.0 <= self.val_ratio < 1.0, f"val_ratio must be in [0, 1), got {self.val_ratio}")
        _check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _check(self.num_epochs >= 1, f"num_epochs must be >= 1, got {self.num_epochs}")
        _check(self.max_steps >= 0, f"max_steps must be >= 0, got {self.max_steps}")
        _check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        _check(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        _check(self.lr_warmup_steps >= 0, f"lr_warmup_steps must be >= 0, got {self.lr_warmup_steps}")
        _check(self.grad_clip_norm >= 0, f"grad_clip_norm must be >= 0, got {self.grad_clip_norm}")
        _check(self.translate_m >= 0, f"translate_m must be >= 0, got {self.translate_m}")
        _check(self.ema_power > 0, f"ema_power must be > 0, got {self.ema_power}")
        _check(0 < self.ema_max_decay < 1, f"ema_max_decay must be in (0, 1), got {self.ema_max_decay}")
        _check(
            self.checkpoint_every_epochs >= 1,
            f"checkpoint_every_epochs must be >= 1, got {self.checkpoint_every_epochs}",
        )
        _check(self.val_every_epochs >= 1, f"val_every_epochs must be >= 1, got {self.val_every_epochs}")
        _check(self.num_workers >= 0, f"num_workers must be >= 0, got {self.num_workers}")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _field_kind(annotation: Any) -> tuple[type, bool]:
    """(element type, is a tuple) of a field annotation of the config dataclasses."""
    if get_origin(annotation) is tuple:
        return get_args(annotation)[0], True
    if annotation not in (bool, int, float, str):
        raise TypeError(f"unsupported config annotation {annotation}")
    return annotation, False


def field_docs(cls: type) -> dict[str, str]:
    """Field name → its description in the class docstring's `Attributes:` section (Google style)."""
    docs: dict[str, str] = {}
    names: list[str] = []
    in_attributes = False
    for line in (cls.__doc__ or "").splitlines():
        stripped = line.strip()
        if stripped == "Attributes:":
            in_attributes = True
            continue
        if not in_attributes or not stripped:
            continue
        head, sep, text = stripped.partition(": ")
        candidates = [name.strip() for name in head.split(",")]
        if sep and all(name.isidentifier() for name in candidates):
            names = candidates
            for name in names:
                docs[name] = text
        else:
            for name in names:
                docs[name] += " " + stripped
    return docs


def add_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per field of the dataclass `cls` (nested dataclasses are flattened).

    Defaults are left as None so that `from_arguments` can tell an explicit flag from a default and
    apply presets/YAML underneath explicit flags.
    """
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in fields(cls):
        if f.name in skip:
            continue
        annotation = hints[f.name]
        if dataclasses.is_dataclass(annotation):
            add_arguments(parser, annotation)
            continue
        kind, is_tuple = _field_kind(annotation)
        default = f.default if f.default is not dataclasses.MISSING else "see config"
        help_text = f"{docs.get(f.name, '')} (default: {default})".replace("%", "%%")
        if kind is bool:
            parser.add_argument(
                _flag(f.name),
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            parser.add_argument(
                _flag(f.name),
                dest=f.name,
                type=kind,
                nargs="+" if is_tuple else None,
                default=None,
                help=help_text,
            )


def _overrides(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in values.items() if k in names and v is not None}


def model_config(preset: str = "cpu", **overrides: Any) -> ModelConfig:
    """A `ModelConfig` from a preset name with field overrides on top."""
    _check(preset in PRESETS, f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    return ModelConfig(**{**PRESETS[preset], **overrides})


def from_arguments(args: argparse.Namespace, yaml_values: dict[str, Any] | None = None) -> TrainConfig:
    """Build a `TrainConfig` from parsed flags: preset < YAML file values < explicit flags.

    Raises:
        ConfigError: an unknown YAML key or an invalid value.
    """
    yaml_values = dict(yaml_values or {})
    yaml_model = dict(yaml_values.pop("model", {}) or {})
    model_names = {f.name for f in fields(ModelConfig)}
    train_names = {f.name for f in fields(TrainConfig)} - {"model"}
    unknown = (set(yaml_values) - train_names) | (set(yaml_model) - model_names)
    _check(not unknown, f"unknown configuration keys {sorted(unknown)}")
    flags = vars(args)
    train_values = {**yaml_values, **_overrides(TrainConfig, flags)}
    train_values.pop("model", None)
    preset = train_values.get("preset", "cpu")
    model = model_config(preset, **{**yaml_model, **_overrides(ModelConfig, flags)})
    return TrainConfig(model=model, **train_values)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Values of a YAML preset file (a mapping; `model:` holds `ModelConfig` fields).

    Raises:
        ConfigError: the file does not hold a mapping.
    """
    import yaml

    values = yaml.safe_load(Path(path).read_text()) or {}
    _check(isinstance(values, dict), f"{path} must hold a mapping, got {type(values).__name__}")
    return values
