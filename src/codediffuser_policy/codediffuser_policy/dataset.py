"""The episode store of docs/dataset.md (zarr v3) and the training windows drawn from it.

`DatasetWriter` is used by every recorder (simulator, real-robot bag importer); `PolicyDataset` feeds
training. The layout is diffusion_policy's replay buffer: steps of all episodes concatenated along the
first axis, `meta/episode_ends` marking where each episode stops. Windows follow diffusion_policy's
`SequenceSampler`: each yields `n_obs_steps` observations and `horizon` actions starting at the same
step, padded at episode edges by repeating the first/last step, so the policy learns to act from the
very first frame and to hold still at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import zarr

from codediffuser_perception.sampling import crop_and_sample
from codediffuser_perception.types import ACTION_DIM

if TYPE_CHECKING:
    from codediffuser_policy.augment import WindowAugmentation

FORMAT = "codediffuser-v1"
"""Value of the root attribute `format`; a store without it is refused."""
JOINT_DIM = 14
"""Per arm 6 joints (rad) + normalised gripper, left then right."""
STEP_KEYS = ("point_cloud", "colors", "attention", "agent_pos", "action", "joint_pos")
"""Per-step arrays under `data/`, in the order of docs/dataset.md."""
_CHUNK_STEPS = 64
"""Steps per zarr chunk: a few MB of points per chunk at 1024 points."""


class DatasetError(ValueError):
    """A store that does not follow docs/dataset.md, or an episode that does not fit the store."""


def _step_specs(n_points: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Per-step shape (without the step axis) and dtype of every `data/` array."""
    return {
        "point_cloud": ((n_points, 3), np.dtype(np.float32)),
        "colors": ((n_points, 3), np.dtype(np.uint8)),
        "attention": ((n_points,), np.dtype(np.float32)),
        "agent_pos": ((ACTION_DIM,), np.dtype(np.float32)),
        "action": ((ACTION_DIM,), np.dtype(np.float32)),
        "joint_pos": ((JOINT_DIM,), np.dtype(np.float32)),
    }


class DatasetWriter:
    """Appends whole episodes to a zarr v3 store; reopening an existing store continues it.

    Crash safety: an episode's step arrays are appended first and `meta/episode_ends` plus the episode
    attributes last, so a store interrupted mid-episode still lists only complete episodes. On reopen,
    step rows past the last recorded end (the remains of that interrupted episode) are truncated.

    Args:
        path: directory of the store (created when missing).
        n_points: points per step (the `n_points` given to `crop_and_sample`).
        control_hz: rate at which steps were recorded.
        workspace_min, workspace_max: (3,) crop box (world frame, metres) the points were sampled in.

    Raises:
        DatasetError: the existing store has another format, point count, rate or workspace.
    """

    def __init__(
        self,
        path: str | Path,
        n_points: int,
        control_hz: float,
        workspace_min: Sequence[float],
        workspace_max: Sequence[float],
    ) -> None:
        if n_points <= 0:
            raise DatasetError(f"n_points must be > 0, got {n_points}")
        if control_hz <= 0:
            raise DatasetError(f"control_hz must be > 0, got {control_hz}")
        ws_min = [float(v) for v in workspace_min]
        ws_max = [float(v) for v in workspace_max]
        if (
            len(ws_min) != 3
            or len(ws_max) != 3
            or not all(a < b for a, b in zip(ws_min, ws_max, strict=True))
        ):
            raise DatasetError(f"workspace must be two (3,) corners with min < max, got {ws_min} .. {ws_max}")
        self.path = Path(path)
        self.n_points = int(n_points)
        self._specs = _step_specs(self.n_points)
        root_attrs = {
            "format": FORMAT,
            "n_points": self.n_points,
            "control_hz": float(control_hz),
            "workspace_min": ws_min,
            "workspace_max": ws_max,
        }
        if (self.path / "zarr.json").exists():
            self._root = zarr.open_group(str(self.path), mode="r+")
            existing = {k: self._root.attrs.get(k) for k in root_attrs}
            if existing != root_attrs:
                raise DatasetError(
                    f"{self.path} was written with {existing}, this writer has {root_attrs}: "
                    "use a new path or the same settings"
                )
            self._data = self._root["data"]
            self._meta = self._root["meta"]
            self._truncate_partial_episode()
        else:
            self._root = zarr.open_group(str(self.path), mode="w", zarr_format=3)
            self._root.attrs.update(root_attrs)
            self._data = self._root.require_group("data")
            self._meta = self._root.require_group("meta")
            for key, (shape, dtype) in self._specs.items():
                self._data.create_array(key, shape=(0, *shape), chunks=(_CHUNK_STEPS, *shape), dtype=dtype)
            self._meta.create_array("episode_ends", shape=(0,), chunks=(1024,), dtype=np.int64)
            self._meta.attrs["episodes"] = []

    @property
    def n_episodes(self) -> int:
        """Complete episodes in the store."""
        return int(self._meta["episode_ends"].shape[0])

    @property
    def n_steps(self) -> int:
        """Steps of all complete episodes."""
        ends = self._meta["episode_ends"]
        return int(ends[-1]) if ends.shape[0] else 0

    def _truncate_partial_episode(self) -> None:
        n = self.n_steps
        for key in STEP_KEYS:
            array = self._data[key]
            if array.shape[0] > n:
                array.resize((n, *array.shape[1:]))

    def add_episode(
        self,
        steps: Mapping[str, np.ndarray],
        *,
        task: str,
        level: str,
        seed: int,
        instruction: str,
        attended: Sequence[str],
        success: bool,
    ) -> int:
        """Append one episode; returns its index.

        Args:
            steps: every key of `STEP_KEYS`, each (T, ...) with the shape and dtype of docs/dataset.md
                (floats are cast to float32; values must be finite, attention in [0, 1]).
            task, level, seed, instruction, attended, success: the episode attributes of docs/dataset.md.

        Raises:
            DatasetError: a key is missing or unknown, lengths differ, a shape is wrong, or values are
                out of range.
        """
        missing = set(STEP_KEYS) - set(steps)
        unknown = set(steps) - set(STEP_KEYS)
        if missing or unknown:
            raise DatasetError(f"episode arrays: missing {sorted(missing)}, unknown {sorted(unknown)}")
        length = len(steps["action"])
        if length == 0:
            raise DatasetError("an episode needs at least one step")
        arrays: dict[str, np.ndarray] = {}
        for key, (shape, dtype) in self._specs.items():
            value = np.asarray(steps[key])
            if value.shape != (length, *shape):
                raise DatasetError(
                    f"{key} must be ({length}, {', '.join(map(str, shape))}), got {value.shape}"
                )
            if dtype == np.uint8 and value.dtype != np.uint8:
                raise DatasetError(f"{key} must be uint8, got {value.dtype}")
            value = value.astype(dtype, copy=False)
            if dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise DatasetError(f"{key} contains NaN or inf")
            arrays[key] = value
        attention = arrays["attention"]
        if attention.min() < 0 or attention.max() > 1:
            raise DatasetError(
                f"attention must lie in [0, 1], got {attention.min():.3f} .. {attention.max():.3f}"
            )
        episode = {
            "task": str(task),
            "level": str(level),
            "seed": int(seed),
            "instruction": str(instruction),
            "attended": [str(name) for name in attended],
            "success": bool(success),
        }
        self._truncate_partial_episode()
        for key in STEP_KEYS:
            self._data[key].append(arrays[key], axis=0)
        new_end = self.n_steps + length
        self._meta["episode_ends"].append(np.array([new_end], dtype=np.int64), axis=0)
        self._meta.attrs["episodes"] = [*self._meta.attrs["episodes"], episode]
        return self.n_episodes - 1


@dataclass
class EpisodeStore:
    """A whole store read into memory (training reads every window many times).

    Attributes:
        data: each `STEP_KEYS` array with the step axis first.
        episode_ends: (E,) exclusive end index of each episode.
        episodes: the per-episode attribute dicts.
        n_points, control_hz, workspace_min, workspace_max: the root attributes.
    """

    data: dict[str, np.ndarray]
    episode_ends: np.ndarray
    episodes: list[dict[str, Any]]
    n_points: int
    control_hz: float
    workspace_min: np.ndarray
    workspace_max: np.ndarray

    @property
    def n_episodes(self) -> int:
        return len(self.episode_ends)

    def episode_slice(self, index: int) -> slice:
        """Rows of episode `index` in the step axis."""
        start = int(self.episode_ends[index - 1]) if index > 0 else 0
        return slice(start, int(self.episode_ends[index]))


def load_store(path: str | Path, keys: Sequence[str] = STEP_KEYS) -> EpisodeStore:
    """Read a store (only `keys` of `data/`) into memory, keeping complete episodes only.

    Raises:
        DatasetError: not a zarr store of format `codediffuser-v1`, or an array is missing/short.
    """
    path = Path(path)
    if not (path / "zarr.json").exists():
        raise DatasetError(f"{path} is not a zarr v3 store (no zarr.json); record one with DatasetWriter")
    root = zarr.open_group(str(path), mode="r")
    if root.attrs.get("format") != FORMAT:
        raise DatasetError(f"{path}: format is {root.attrs.get('format')!r}, expected {FORMAT!r}")
    try:
        ends = np.asarray(root["meta/episode_ends"][:], dtype=np.int64)
        episodes = list(root["meta"].attrs["episodes"])
        n = int(ends[-1]) if len(ends) else 0
        data = {key: np.asarray(root[f"data/{key}"][:n]) for key in keys}
    except KeyError as error:
        raise DatasetError(f"{path}: missing {error} (see docs/dataset.md)") from error
    for key, value in data.items():
        if len(value) != n:
            raise DatasetError(f"{path}: data/{key} has {len(value)} steps, episode_ends says {n}")
    if len(episodes) != len(ends):
        raise DatasetError(f"{path}: {len(episodes)} episode attribute dicts for {len(ends)} episodes")
    return EpisodeStore(
        data=data,
        episode_ends=ends,
        episodes=episodes,
        n_points=int(root.attrs["n_points"]),
        control_hz=float(root.attrs["control_hz"]),
        workspace_min=np.asarray(root.attrs["workspace_min"], dtype=np.float32),
        workspace_max=np.asarray(root.attrs["workspace_max"], dtype=np.float32),
    )


def sequence_indices(
    episode_ends: np.ndarray,
    sequence_length: int,
    pad_before: int,
    pad_after: int,
    episode_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Windows over concatenated episodes, diffusion_policy's `create_indices` contract.

    Each row is (buffer_start, buffer_end, sample_start, sample_end): rows [buffer_start, buffer_end)
    of the store fill positions [sample_start, sample_end) of a window of `sequence_length`; positions
    before/after are padding (copies of the first/last row). A window may start up to `pad_before`
    steps before its episode and end up to `pad_after` steps after it, never crossing into another.

    Returns:
        (W, 4) int64.
    """
    if sequence_length < 1 or pad_before < 0 or pad_after < 0:
        raise DatasetError(
            f"need sequence_length >= 1 and pads >= 0, got {sequence_length}, {pad_before}, {pad_after}"
        )
    pad_before = min(pad_before, sequence_length - 1)
    pad_after = min(pad_after, sequence_length - 1)
    rows: list[tuple[int, int, int, int]] = []
    for i, end in enumerate(episode_ends):
        if episode_mask is not None and not episode_mask[i]:
            continue
        start = int(episode_ends[i - 1]) if i > 0 else 0
        length = int(end) - start
        for idx in range(-pad_before, length - sequence_length + pad_after + 1):
            buffer_start = max(idx, 0) + start
            buffer_end = min(idx + sequence_length, length) + start
            sample_start = buffer_start - (idx + start)
            sample_end = sample_start + buffer_end - buffer_start
            rows.append((buffer_start, buffer_end, sample_start, sample_end))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 4)


def _padded(array: np.ndarray, row: np.ndarray, first_k: int) -> np.ndarray:
    """The first `first_k` positions of window `row` of `array`, padded with its first/last real row."""
    buffer_start, buffer_end, sample_start, _ = (int(v) for v in row)
    source = np.clip(buffer_start + np.arange(first_k) - sample_start, buffer_start, buffer_end - 1)
    return array[source]


def split_episodes(n_episodes: int, val_ratio: float, seed: int) -> np.ndarray:
    """Boolean (E,) mask of validation episodes: a seeded draw, at least one training episode kept.

    With `val_ratio` > 0 and at least two episodes, at least one episode is held out.
    """
    if not 0.0 <= val_ratio < 1.0:
        raise DatasetError(f"val_ratio must be in [0, 1), got {val_ratio}")
    mask = np.zeros(n_episodes, dtype=bool)
    n_val = min(max(round(n_episodes * val_ratio), 1), n_episodes - 1) if val_ratio > 0 else 0
    if n_val > 0:
        mask[np.random.default_rng(seed).choice(n_episodes, size=n_val, replace=False)] = True
    return mask


class PolicyDataset(torch.utils.data.Dataset):
    """Training windows: `n_obs_steps` observations and `horizon` actions from one episode.

    Item (all float32 tensors, world frame / arm base frame as stored):
        point_cloud: (To, n_points, 3) metres.
        attention: (To, n_points) in [0, 1], aligned with `point_cloud`.
        agent_pos: (To, 20).
        action: (horizon, 20); action[t] is the target issued at the step of observation t
            (the last observation is step To - 1 of the window).

    When `n_points` is below the store's, each observation is re-sampled with `crop_and_sample` (the
    function the deployed policy uses); with `augmentation` the window is mirrored and/or shifted
    (`augment.WindowAugmentation`). Both draw from a generator seeded per (seed, epoch, window), so
    epochs differ (`set_epoch`) but runs repeat.

    Args:
        store: the loaded episodes.
        horizon: actions per window (prediction horizon).
        n_obs_steps: observations per window (To).
        n_action_steps: actions executed per prediction (Ta); sets the padding after the episode end.
        n_points: points per observation (<= the store's); None keeps the store's.
        episode_mask: (E,) episodes to include; None = all.
        seed: base seed of the point re-sampling and the augmentation.
        augmentation: mirror/shift every window at random (training only); None = as recorded.
    """

    def __init__(
        self,
        store: EpisodeStore,
        horizon: int,
        n_obs_steps: int,
        n_action_steps: int,
        n_points: int | None = None,
        episode_mask: np.ndarray | None = None,
        seed: int = 0,
        augmentation: WindowAugmentation | None = None,
    ) -> None:
        if not 1 <= n_obs_steps <= horizon or not 1 <= n_action_steps <= horizon:
            raise DatasetError(
                f"need 1 <= n_obs_steps, n_action_steps <= horizon, got {n_obs_steps}, {n_action_steps}, {horizon}"
            )
        self.n_points = store.n_points if n_points is None else int(n_points)
        if not 0 < self.n_points <= store.n_points:
            raise DatasetError(f"n_points must be in 1..{store.n_points} (the store's), got {n_points}")
        missing = {"point_cloud", "attention", "agent_pos", "action"} - set(store.data)
        if missing:
            raise DatasetError(f"the store was loaded without {sorted(missing)}")
        self.store = store
        self.horizon = horizon
        self.n_obs_steps = n_obs_steps
        self.seed = seed
        self.epoch = 0
        self.augmentation = augmentation
        self.indices = sequence_indices(
            store.episode_ends, horizon, n_obs_steps - 1, n_action_steps - 1, episode_mask
        )

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """Draw the next epoch's point samples and augmentations (the training loop calls it every epoch)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = self.indices[index]
        data = self.store.data
        to = self.n_obs_steps
        points = _padded(data["point_cloud"], row, to)  # (To, N_store, 3)
        attention = _padded(data["attention"], row, to)  # (To, N_store)
        agent_pos = _padded(data["agent_pos"], row, to)
        action = _padded(data["action"], row, self.horizon)
        rng = np.random.default_rng((self.seed, self.epoch, int(index)))
        if self.n_points < self.store.n_points:
            sampled = [
                crop_and_sample(
                    points[t],
                    self.store.workspace_min,
                    self.store.workspace_max,
                    self.n_points,
                    rng,
                    attention[t],
                )
                for t in range(to)
            ]
            points = np.stack([p for p, _ in sampled])  # (To, n_points, 3)
            attention = np.stack([a for _, a in sampled])  # (To, n_points)
        if self.augmentation is not None:
            points, agent_pos, action = self.augmentation.apply(rng, points, agent_pos, action)
        return {
            "point_cloud": torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32)),
            "attention": torch.from_numpy(np.ascontiguousarray(attention, dtype=np.float32)),
            "agent_pos": torch.from_numpy(np.ascontiguousarray(agent_pos, dtype=np.float32)),
            "action": torch.from_numpy(np.ascontiguousarray(action, dtype=np.float32)),
        }


@dataclass
class MinMax:
    """Per-dimension min-max statistics of one field: `normalize` maps [min, max] to [-1, 1].

    Dimensions whose range is below `eps` (e.g. a gripper that never moves) are only centred, so they
    do not blow up to ±inf; this matches diffusion_policy's `range_eps` handling.
    """

    min: np.ndarray
    max: np.ndarray
    eps: float = 1e-4

    def __post_init__(self) -> None:
        self.min = np.asarray(self.min, dtype=np.float32)
        self.max = np.asarray(self.max, dtype=np.float32)
        if self.min.shape != self.max.shape or self.min.ndim != 1:
            raise DatasetError(f"min/max must be equal (D,) vectors, got {self.min.shape}, {self.max.shape}")
        if (
            not np.all(np.isfinite(self.min))
            or not np.all(np.isfinite(self.max))
            or np.any(self.min > self.max)
        ):
            raise DatasetError("min/max must be finite with min <= max")

    @classmethod
    def fit(cls, values: np.ndarray) -> MinMax:
        """Statistics of (S, D) samples."""
        values = np.asarray(values, dtype=np.float32).reshape(-1, np.shape(values)[-1])
        if len(values) == 0:
            raise DatasetError("cannot fit a normaliser on zero samples")
        return cls(values.min(axis=0), values.max(axis=0))

    def constant_mask(self) -> np.ndarray:
        """(D,) bool: dimensions whose range is below `eps` (only centred by `scale_offset`)."""
        return (self.max - self.min) < self.eps

    def scale_offset(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, offset) with normalised = x * scale + offset."""
        span = self.max - self.min
        ok = ~self.constant_mask()
        scale = np.where(ok, 2.0 / np.where(ok, span, 1.0), 1.0).astype(np.float32)
        offset = np.where(ok, -1.0 - self.min * scale, -(self.min + self.max) / 2.0).astype(np.float32)
        return scale, offset


def fit_normalizer_stats(
    store: EpisodeStore,
    episode_mask: np.ndarray | None = None,
    augmentation: WindowAugmentation | None = None,
) -> dict[str, MinMax]:
    """Min-max statistics of `action` and `agent_pos` over the (training) episodes' steps.

    Points stay in metres (the set-abstraction radii are metric) and attention is already in [0, 1],
    so only the low-dimensional fields are normalised. With `augmentation` the statistics cover every
    window it can make (`WindowAugmentation.fit`), so those normalise inside [-1, 1] too.
    """
    if episode_mask is None:
        rows = slice(None)
    else:
        rows = np.concatenate(
            [
                np.arange(store.episode_slice(i).start, store.episode_slice(i).stop)
                for i in np.flatnonzero(episode_mask)
            ]
            or [np.zeros(0, dtype=np.int64)]
        )
    fit = MinMax.fit if augmentation is None else augmentation.fit
    return {key: fit(store.data[key][rows]) for key in ("action", "agent_pos")}


__all__ = [
    "FORMAT",
    "JOINT_DIM",
    "STEP_KEYS",
    "DatasetError",
    "DatasetWriter",
    "EpisodeStore",
    "MinMax",
    "PolicyDataset",
    "fit_normalizer_stats",
    "load_store",
    "sequence_indices",
    "split_episodes",
]
