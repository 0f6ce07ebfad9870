"""The diffusion policy: observation encoding, DDPM training loss, DDIM sampling and the caller interface.

Every caller (ROS node, simulator evaluation, demo) uses the same two calls: `predict_action(obs)` with
the current observation, returning an `ActionChunk`, and `reset()` at the start of an episode. The
policy keeps the last `n_obs_steps` observations itself and owns the point sampling
(`crop_and_sample`, the function the dataset was recorded with) and the normaliser, so callers pass raw
world-frame clouds and read raw actions.

Noise schedules come from `diffusers`: DDPM (100 steps, squaredcos_cap_v2, epsilon prediction) defines
the training objective; DDIM re-uses the same trained network with fewer steps at inference, with
per-step noise (`DDIM_ETA`).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from torch import Tensor, nn

from codediffuser_perception.geometry import matrix_to_rot6d, rot6d_to_matrix
from codediffuser_perception.sampling import crop_and_sample
from codediffuser_perception.types import ACTION_DIM, ARM_ACTION_DIM, ActionChunk
from codediffuser_policy.config import ModelConfig
from codediffuser_policy.dataset import MinMax
from codediffuser_policy.model.pointnet2 import PointNet2Encoder
from codediffuser_policy.model.unet1d import ConditionalUnet1D

DDIM_ETA = 1.0
"""DDIM's stochasticity (0 = the deterministic ODE sampler, 1 = DDPM-like ancestral noise per step).

Measured on the 12-step synthetic episode (tiny model, 500 / 2000 training steps, 10 DDIM steps): the
deterministic sampler lands between the two gripper modes and drifts on the path (mean/max xyz error
1.9/11.6 cm, gripper error 0.27 after 500 steps), while eta = 1 at the same cost halves it (1.0/5.9 cm,
0.18; after 2000 steps 0.88 → 0.48 cm, gripper 0.15 → 0.08), close to 100-step DDPM. The fresh noise
of each step corrects the network's residual errors instead of integrating them."""

NORMALIZED_FIELDS = ("action", "agent_pos")
"""Fields mapped to [-1, 1] by the policy's normaliser (points stay metric, attention is in [0, 1])."""


class PolicyError(ValueError):
    """A malformed observation or a policy used before its normaliser was fitted."""


class Normalizer(nn.Module):
    """Per-dimension affine maps of `NORMALIZED_FIELDS`, kept as buffers so checkpoints carry them.

    `normalize(x) = x * scale + offset` maps each dimension's training [min, max] to [-1, 1]. A
    dimension that never varied in training (e.g. the idle arm's rotation) is emitted as that constant
    by `unnormalize`: the network only has to model the dimensions that move, and sampling noise
    cannot leak into the ones that must not.
    """

    def __init__(self, dim: int = ACTION_DIM) -> None:
        super().__init__()
        for name in NORMALIZED_FIELDS:
            self.register_buffer(f"{name}_scale", torch.ones(dim))
            self.register_buffer(f"{name}_offset", torch.zeros(dim))
            self.register_buffer(f"{name}_constant", torch.zeros(dim, dtype=torch.bool))
        self.register_buffer("fitted", torch.tensor(False))

    def set_stats(self, stats: Mapping[str, MinMax]) -> None:
        """Install min-max statistics for every field of `NORMALIZED_FIELDS`."""
        missing = set(NORMALIZED_FIELDS) - set(stats)
        if missing:
            raise PolicyError(f"normaliser statistics missing for {sorted(missing)}")
        for name in NORMALIZED_FIELDS:
            scale, offset = stats[name].scale_offset()
            if scale.shape != self.get_buffer(f"{name}_scale").shape:
                raise PolicyError(f"{name} statistics have shape {scale.shape}, expected ({ACTION_DIM},)")
            self.get_buffer(f"{name}_scale").copy_(torch.from_numpy(scale))
            self.get_buffer(f"{name}_offset").copy_(torch.from_numpy(offset))
            self.get_buffer(f"{name}_constant").copy_(torch.from_numpy(stats[name].constant_mask()))
        self.fitted.fill_(True)

    def _affine(self, name: str) -> tuple[Tensor, Tensor]:
        if not bool(self.fitted):
            raise PolicyError("the normaliser is not fitted: train the policy or load a checkpoint first")
        return self.get_buffer(f"{name}_scale"), self.get_buffer(f"{name}_offset")

    def normalize(self, name: str, x: Tensor) -> Tensor:
        scale, offset = self._affine(name)
        return x * scale + offset

    def unnormalize(self, name: str, x: Tensor) -> Tensor:
        scale, offset = self._affine(name)
        constant = self.get_buffer(f"{name}_constant")
        return torch.where(constant, -offset, (x - offset) / scale)  # constant dims: offset = -value


class DiffusionPolicy(nn.Module):
    """CodeDiffuser's low-level policy: point cloud + 3D attention → end-effector action chunk.

    Args:
        config: architecture and observation settings (saved in checkpoints).
        seed: seeds the point sampling and the initial diffusion noise after each `reset()`.
    """

    def __init__(self, config: ModelConfig, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        self.seed = seed
        self.encoder = PointNet2Encoder(
            in_channels=config.in_channels,
            npoints=config.sa_npoints,
            radii=config.sa_radii,
            nsamples=config.sa_nsamples,
            channels=config.sa_channels,
            n_blocks=config.sa_res_blocks,
            out_dim=config.obs_feature_dim,
            input_branch=config.input_branch,
        )
        obs_dim = config.obs_feature_dim + (ACTION_DIM if config.use_agent_pos else 0)
        self.unet = ConditionalUnet1D(
            input_dim=ACTION_DIM,
            global_cond_dim=obs_dim * config.n_obs_steps,
            down_dims=config.down_dims,
            kernel_size=config.kernel_size,
            n_groups=config.n_groups,
            diffusion_step_embed_dim=config.diffusion_step_embed_dim,
        )
        self.normalizer = Normalizer()
        schedule = {
            "num_train_timesteps": config.num_train_timesteps,
            "beta_schedule": config.beta_schedule,
            "clip_sample": True,
            "prediction_type": "epsilon",
        }
        self.ddpm = DDPMScheduler(**schedule)
        self.ddim = DDIMScheduler(**schedule, set_alpha_to_one=True, steps_offset=0)
        self._workspace = (
            np.asarray(config.workspace_min, dtype=np.float32),
            np.asarray(config.workspace_max, dtype=np.float32),
        )
        self._history: deque[tuple[np.ndarray, np.ndarray, np.ndarray]] = deque(maxlen=config.n_obs_steps)
        self._rng = np.random.default_rng(seed)

    # ---- tensors: shared by training and inference -------------------------------------------------

    def encode_obs(self, point_cloud: Tensor, attention: Tensor, agent_pos: Tensor) -> Tensor:
        """Global conditioning vector of a batch of observation histories.

        Args:
            point_cloud: (B, To, N, 3) world frame, metres.
            attention: (B, To, N) in [0, 1] (ignored by the baseline).
            agent_pos: (B, To, 20) raw end-effector state (ignored unless `use_agent_pos`).

        Returns:
            (B, To * (obs_feature_dim [+ 20])).
        """
        b, to, n, _ = point_cloud.shape
        if to != self.config.n_obs_steps:
            raise PolicyError(f"expected {self.config.n_obs_steps} observation steps, got {to}")
        cloud = point_cloud
        if self.config.use_attention:
            cloud = torch.cat([point_cloud, attention.unsqueeze(-1)], dim=-1)  # (B, To, N, 4)
        cloud = cloud.reshape(b * to, n, -1).transpose(1, 2)  # (B*To, C, N)
        features = self.encoder(cloud).reshape(b, to, -1)  # (B, To, F)
        if self.config.use_agent_pos:
            features = torch.cat([features, self.normalizer.normalize("agent_pos", agent_pos)], dim=-1)
        return features.reshape(b, -1)  # (B, To * obs_dim)

    def compute_loss(self, batch: Mapping[str, Tensor], generator: torch.Generator | None = None) -> Tensor:
        """DDPM epsilon-prediction MSE on a batch of `PolicyDataset` windows.

        Args:
            batch: point_cloud (B, To, N, 3), attention (B, To, N), agent_pos (B, To, 20),
                action (B, H, 20), all raw (unnormalised).
            generator: makes the noise and timesteps reproducible (validation).
        """
        device = self.normalizer.fitted.device
        to = self.config.n_obs_steps
        cond = self.encode_obs(
            batch["point_cloud"][:, :to].to(device),
            batch["attention"][:, :to].to(device),
            batch["agent_pos"][:, :to].to(device),
        )
        action = self.normalizer.normalize("action", batch["action"].to(device))  # (B, H, 20)
        noise = torch.randn(action.shape, generator=generator, device="cpu").to(device)
        timesteps = torch.randint(
            0, self.config.num_train_timesteps, (action.shape[0],), generator=generator, device="cpu"
        ).to(device)
        noisy = self.ddpm.add_noise(action, noise, timesteps)
        return nn.functional.mse_loss(self.unet(noisy, timesteps, cond), noise)

    @torch.no_grad()
    def sample_actions(
        self,
        point_cloud: Tensor,
        attention: Tensor,
        agent_pos: Tensor,
        sampler: Literal["ddim", "ddpm"] = "ddim",
        num_inference_steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Denoise a full action sequence for a batch of observation histories.

        Args:
            point_cloud, attention, agent_pos: as in `encode_obs`.
            sampler: "ddim" (deployment) or "ddpm" (the training chain, slow; benchmarks).
            num_inference_steps: denoising steps; default `config.num_inference_steps` for DDIM and
                `num_train_timesteps` for DDPM.
            generator: seeds the initial noise and the per-step noise of both samplers.

        Returns:
            (B, horizon, 20) raw actions; index `n_obs_steps - 1` is the current step.
        """
        if sampler not in ("ddim", "ddpm"):
            raise PolicyError(f"sampler must be 'ddim' or 'ddpm', got {sampler!r}")
        scheduler = self.ddim if sampler == "ddim" else self.ddpm
        steps = num_inference_steps or (
            self.config.num_inference_steps if sampler == "ddim" else self.config.num_train_timesteps
        )
        if not 1 <= steps <= self.config.num_train_timesteps:
            raise PolicyError(
                f"num_inference_steps must be in 1..{self.config.num_train_timesteps}, got {steps}"
            )
        cond = self.encode_obs(point_cloud, attention, agent_pos)
        shape = (point_cloud.shape[0], self.config.horizon, ACTION_DIM)
        trajectory = torch.randn(shape, generator=generator, device="cpu").to(cond.device)  # (B, H, 20)
        scheduler.set_timesteps(steps)
        step_options = {"eta": DDIM_ETA} if sampler == "ddim" else {}
        for t in scheduler.timesteps:
            eps = self.unet(trajectory, t.to(cond.device), cond)
            trajectory = scheduler.step(eps, t, trajectory, generator=generator, **step_options).prev_sample
        return self.normalizer.unnormalize("action", trajectory)

    # ---- the caller interface -----------------------------------------------------------------------

    def set_action_steps(self, n_action_steps: int) -> None:
        """Execute `n_action_steps` actions per prediction from now on.

        A deployment choice (see `checkpoint.load_policy`): the weights do not depend on it.

        Raises:
            ConfigError: outside 1..`config.max_action_steps`.
        """
        self.config = dataclasses.replace(self.config, n_action_steps=n_action_steps)

    def reset(self, seed: int | None = None) -> None:
        """Forget the observation history (start of an episode) and re-seed sampling."""
        self._history.clear()
        self._rng = np.random.default_rng(self.seed if seed is None else seed)

    def observe(self, obs: Mapping[str, np.ndarray]) -> None:
        """Add one observation to the history without predicting.

        Call it at the control steps where the previous chunk is still being executed, so that the
        history holds consecutive steps as in training.

        Args:
            obs: `point_cloud` (M, 3) world-frame metres (any M; cropped and sampled here),
                `attention` (M,) in [0, 1] (required unless the baseline), `agent_pos` (20,) current
                end-effector state (required when `use_agent_pos`).

        Raises:
            PolicyError: a missing key or a wrong shape.
            PerceptionError: no point lies inside the workspace.
        """
        points = np.asarray(obs.get("point_cloud"), dtype=np.float32)
        if points.ndim != 2 or points.shape[1] != 3:
            raise PolicyError(f"obs['point_cloud'] must be (M, 3), got {points.shape}")
        if self.config.use_attention:
            if "attention" not in obs:
                raise PolicyError("obs['attention'] is required by an attention-conditioned policy")
            attention = np.asarray(obs["attention"], dtype=np.float32)
            if attention.shape != (len(points),):
                raise PolicyError(f"obs['attention'] must be ({len(points)},), got {attention.shape}")
        else:
            attention = np.zeros(len(points), dtype=np.float32)
        if self.config.use_agent_pos:
            if "agent_pos" not in obs:
                raise PolicyError("obs['agent_pos'] is required when use_agent_pos is set")
            agent_pos = np.asarray(obs["agent_pos"], dtype=np.float32)
            if agent_pos.shape != (ACTION_DIM,) or not np.all(np.isfinite(agent_pos)):
                raise PolicyError(f"obs['agent_pos'] must be finite ({ACTION_DIM},), got {agent_pos.shape}")
        else:
            agent_pos = np.zeros(ACTION_DIM, dtype=np.float32)
        points, attention = crop_and_sample(
            points, *self._workspace, self.config.n_points, self._rng, attention
        )
        self._history.append((points, attention, agent_pos))

    def predict_action(self, obs: Mapping[str, np.ndarray] | None = None) -> ActionChunk:
        """The next `n_action_steps` actions, the first being for the current step.

        Args:
            obs: the current observation (see `observe`); None predicts from the history as it is.
                Before `n_obs_steps` observations were seen, the oldest is repeated (as the training
                windows pad the start of an episode).

        Returns:
            (n_action_steps, 20) raw actions, 6D rotations orthonormalised and grippers clipped to
            [0, 1], spaced `1 / control_hz` apart.
        """
        if obs is not None:
            self.observe(obs)
        if not self._history:
            raise PolicyError("predict_action needs an observation: pass obs or call observe() first")
        frames = list(self._history)
        frames = [frames[0]] * (self.config.n_obs_steps - len(frames)) + frames
        device = self.normalizer.fitted.device
        point_cloud, attention, agent_pos = (
            torch.from_numpy(np.stack([f[i] for f in frames]))[None].to(device) for i in range(3)
        )  # (1, To, N, 3), (1, To, N), (1, To, 20)
        generator = torch.Generator().manual_seed(int(self._rng.integers(2**31)))
        was_training = self.training
        self.eval()
        try:
            actions = self.sample_actions(point_cloud, attention, agent_pos, generator=generator)
        finally:
            self.train(was_training)
        start = self.config.n_obs_steps - 1
        chunk = actions[0, start : start + self.config.n_action_steps].cpu().numpy()  # (Ta, 20)
        return ActionChunk(actions=project_actions(chunk), dt_s=self.config.dt_s)


def project_actions(actions: np.ndarray) -> np.ndarray:
    """(T, 20) raw network outputs → valid targets.

    Each arm's 6D rotation is made orthonormal (Gram-Schmidt, as `rot6d_to_matrix`) and its gripper
    clipped to [0 closed, 1 open].
    """
    out = np.array(actions, dtype=np.float32)
    for start in (0, ARM_ACTION_DIM):
        rot = slice(start + 3, start + 9)
        out[:, rot] = matrix_to_rot6d(rot6d_to_matrix(out[:, rot]))
        out[:, start + 9] = np.clip(out[:, start + 9], 0.0, 1.0)
    return out
