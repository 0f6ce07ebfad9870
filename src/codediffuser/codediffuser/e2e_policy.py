"""Where the demo's and the evaluation's policies come from: recorded demonstrations → training → checkpoint.

Both go through the project's own commands' code paths: `codediffuser generate`
(`codediffuser_sim.generate.main`: scripted demonstrations into a zarr store) and `codediffuser train`
(`codediffuser_policy.train.train`). A `Recipe` fixes everything a run depends on (episodes, data seed,
points, model preset, optimiser steps), so a cached or shipped checkpoint is identified by its recipe.

Checkpoint lookup for the demo (`resolve_checkpoint`): an explicit path, else the checkpoint shipped in
the repository's `checkpoints/<task>/`, else the cache (`$CODEDIFFUSER_CACHE`, default
`~/.cache/codediffuser`), else a fresh dataset + training run written to that cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codediffuser_policy.checkpoint import load_checkpoint, save_checkpoint
from codediffuser_policy.config import TrainConfig, model_config

SHIPPED_DIR = Path(__file__).resolve().parents[3] / "checkpoints"
"""The repository's `checkpoints/` folder (source checkout)."""
SHIPPED_NAME = "policy.pt"
LIGHT_MODEL: dict[str, Any] = {"n_points": 256, "sa_npoints": (64, 16), "sa_nsamples": (16, 16)}
"""The CPU preset with a lighter point encoder (256 points): ≈ 3× cheaper training steps on 2 cores."""
RECORDING_VERSION = 3
"""Bumped whenever `codediffuser generate` records different content for the same recipe, so cached
stores and policies of the old recording are not reused (2: a task's `crop_top_m` lowers the crop box;
3: Hang Mug and Stow Books have one too)."""
ACCELERATOR_WORKERS = 4
"""DataLoader workers when training off the CPU: on an H200 four kept the small model at 2100 training
windows/s (fifth session); on the CPU the training's own torch threads use the cores, so none."""


def loader_workers(device: str) -> int:
    """DataLoader workers of a training on `device` (`ACCELERATOR_WORKERS` off the CPU, else none)."""
    return 0 if device == "cpu" else ACCELERATOR_WORKERS


DEPLOY_KEYS = ("format", "model_config", "train_config", "model", "ema_model", "step", "epoch")
"""Checkpoint entries kept in a shipped (deploy-only) checkpoint: no optimiser or EMA state."""


class RecipeError(RuntimeError):
    """Demonstrations could not be recorded or a policy could not be trained; the message says why."""


@dataclass(frozen=True)
class Recipe:
    """How a policy is made, end to end.

    Attributes:
        task: registered task name.
        episodes: successful scripted demonstrations recorded (levels cycle none/object/target/both).
        data_seed: first simulator seed of the demonstrations (later seeds follow).
        record_points: points per recorded step.
        width, height: camera image size of the recording (and of the rollouts).
        model_preset: `codediffuser_policy.config.PRESETS` key.
        model_overrides: `ModelConfig` fields set on top of the preset.
        use_attention: CodeDiffuser (True) or the no-attention baseline.
        num_epochs: passes over the training windows (the cosine LR schedule spans them all).
        batch_size: windows per step.
        lr: AdamW peak learning rate. The CPU-sized policies use 1e-3: at diffusion_policy's 1e-4 the
            small model's loss was still 0.21 after 1260 steps, at 1e-3 it reaches 0.057 at that step
            (Pack Battery, 60 demonstrations, same seed).
        lr_warmup_steps: linear warm-up steps of the cosine schedule.
        translate_m: largest random horizontal shift of a training window (`TrainConfig.translate_m`).
        mirror: mirror half of the training windows (`TrainConfig.mirror`); `for_task` keeps it only for
            mirror-symmetric tasks.
        seed: training seed (weights, data order, point sampling).
    """

    task: str = "pack_battery"
    episodes: int = 20
    data_seed: int = 0
    record_points: int = 512
    width: int = 160
    height: int = 120
    model_preset: str = "cpu"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    use_attention: bool = True
    num_epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-4
    lr_warmup_steps: int = 100
    translate_m: float = 0.0
    mirror: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.num_epochs < 1 or self.batch_size < 1:
            raise RecipeError(
                f"episodes, num_epochs and batch_size must be >= 1, got {self.episodes}, {self.num_epochs}, {self.batch_size}"
            )

    def for_task(self, task: str) -> Recipe:
        """This recipe for `task`, mirroring only where the task's layouts are mirror-symmetric.

        A scale's or the demo's recipe serves every task; `TaskEnv.mirror_symmetric` says where mirrored
        demonstrations show scenes that occur.

        Raises:
            RecipeError: an unknown task.
        """
        import codediffuser_sim.tasks  # noqa: F401  (registers the built-in tasks)
        from codediffuser_sim.env import TASK_REGISTRY

        if task not in TASK_REGISTRY:
            raise RecipeError(f"unknown task {task!r}; registered: {sorted(TASK_REGISTRY)}")
        return dataclasses.replace(
            self, task=task, mirror=self.mirror and TASK_REGISTRY[task].mirror_symmetric
        )

    def key(self) -> str:
        """Short stable identifier of the recipe (cache folder names); changes with `data_key`."""
        text = json.dumps({**dataclasses.asdict(self), "data": self.data_key()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def data_key(self) -> str:
        """Identifier of the demonstrations alone (runs that differ only in training share data)."""
        fields = ("task", "data_seed", "record_points", "width", "height")
        values = {f: getattr(self, f) for f in fields}
        text = json.dumps({**values, "recording": RECORDING_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def train_config(self, data: Path, out: Path, device: str = "cpu") -> TrainConfig:
        """The `TrainConfig` of this recipe on a recorded store, trained on `device`.

        The device is not part of the recipe (`key`): a policy trained on a GPU stands for the same
        recipe as one trained on the CPU.
        """
        model = model_config(
            self.model_preset,
            **{"n_points": self.record_points, **self.model_overrides, "use_attention": self.use_attention},
        )
        return TrainConfig(
            data=str(data),
            out=str(out),
            model=model,
            preset=self.model_preset,
            seed=self.seed,
            val_ratio=0.1,
            batch_size=self.batch_size,
            num_epochs=self.num_epochs,
            lr=self.lr,
            lr_warmup_steps=self.lr_warmup_steps,
            translate_m=self.translate_m,
            mirror=self.mirror,
            checkpoint_every_epochs=self.num_epochs,
            val_every_epochs=self.num_epochs,
            device=device,
            num_workers=loader_workers(device),
        )

    def command(self, data: Path, out: Path, device: str = "cpu") -> str:
        """The equivalent `codediffuser generate` + `codediffuser train` command lines."""
        placement = "" if device == "cpu" else f" --device {device} --num-workers {loader_workers(device)}"
        model = {"n_points": self.record_points, **self.model_overrides}
        flags = " ".join(
            f"--{k.replace('_', '-')} " + (" ".join(map(str, v)) if isinstance(v, tuple | list) else str(v))
            for k, v in model.items()
        )
        attention = "--use-attention" if self.use_attention else "--no-use-attention"
        return (
            f"codediffuser generate --task {self.task} --episodes {self.episodes} --level all "
            f"--seed {self.data_seed} --n-points {self.record_points} --width {self.width} "
            f"--height {self.height} --out {data}\n"
            f"codediffuser train --data {data} --out {out} --preset {self.model_preset} {flags} {attention} "
            f"--num-epochs {self.num_epochs} --batch-size {self.batch_size} --lr {self.lr} --lr-warmup-steps {self.lr_warmup_steps} "
            f"--translate-m {self.translate_m} {'--mirror' if self.mirror else '--no-mirror'} "
            f"--seed {self.seed} --val-ratio 0.1 --checkpoint-every-epochs {self.num_epochs} "
            f"--val-every-epochs {self.num_epochs}{placement}"
        )


def cache_root() -> Path:
    """`$CODEDIFFUSER_CACHE`, else `~/.cache/codediffuser`."""
    return Path(os.environ.get("CODEDIFFUSER_CACHE") or Path.home() / ".cache" / "codediffuser")


def record_demonstrations(recipe: Recipe, store: Path) -> Path:
    """Make `store` hold `recipe.episodes` scripted demonstrations (resumes a partial store).

    Raises:
        RecipeError: the expert could not produce enough successful episodes.
    """
    from codediffuser_sim.generate import main as generate_main

    store.parent.mkdir(parents=True, exist_ok=True)
    rc = generate_main(
        [
            "--task", recipe.task,
            "--episodes", str(recipe.episodes),
            "--level", "all",
            "--seed", str(recipe.data_seed),
            "--n-points", str(recipe.record_points),
            "--width", str(recipe.width),
            "--height", str(recipe.height),
            "--out", str(store),
        ]
    )  # fmt: skip
    if rc != 0:
        raise RecipeError(f"recording {recipe.episodes} {recipe.task} demonstrations into {store} failed")
    return store


def subset_store(source: Path, episodes: int, out: Path) -> Path:
    """A copy of `source` holding only its first `episodes` episodes (success-vs-demonstrations runs).

    Raises:
        RecipeError: the source holds fewer episodes.
    """
    import zarr

    src = zarr.open_group(str(source), mode="r")
    ends = src["meta/episode_ends"][:]
    if len(ends) < episodes:
        raise RecipeError(f"{source} holds {len(ends)} episodes, {episodes} requested")
    if out.exists():
        shutil.rmtree(out)
    dst = zarr.open_group(str(out), mode="w")
    dst.attrs.update(dict(src.attrs))
    stop = int(ends[episodes - 1])
    for name, array in src["data"].arrays():
        dst.create_array(f"data/{name}", data=array[:stop], chunks=array.chunks)
    dst.create_array("meta/episode_ends", data=ends[:episodes])
    meta = dict(src["meta"].attrs)
    meta["episodes"] = list(meta.get("episodes", []))[:episodes]
    dst["meta"].attrs.update(meta)
    return out


def train_recipe(recipe: Recipe, data: Path, out: Path, progress: bool = True, device: str = "cpu") -> Path:
    """Train the recipe's policy on `data` into `out` on `device`; returns the checkpoint path."""
    from codediffuser_policy.train import train

    result = train(recipe.train_config(data, out, device), progress=progress)
    summary = {
        "recipe": dataclasses.asdict(recipe),
        "command": recipe.command(data, out, device),
        "step": result.step,
        "first_loss": result.first_loss,
        "train_loss": result.train_loss,
        "val_loss": result.val_loss,
        "val_action_error_m": result.val_action_error_m,
        "samples_per_s": result.samples_per_s,
    }
    (out / "recipe.json").write_text(json.dumps(summary, indent=2) + "\n")
    return result.checkpoint


def slim_checkpoint(source: Path, dest: Path) -> Path:
    """A deploy-only copy of a training checkpoint: EMA weights in half precision, nothing else.

    `model` and `ema_model` both hold the EMA weights (the same tensors, stored once) and the network's
    weights are stored as float16 (`load_policy` casts them back into the float32 model), so the file
    is about an eighth of the training checkpoint: shipped checkpoints stay small in the repository.
    The normaliser stays float32: its offsets are positions in metres, where float16 would round by up
    to 0.25 mm.
    """
    payload = load_checkpoint(source)
    slim = {k: payload[k] for k in DEPLOY_KEYS if k in payload and k not in ("format", "model")}
    slim["ema_model"] = {
        name: value.half() if value.is_floating_point() and not name.startswith("normalizer.") else value
        for name, value in slim["ema_model"].items()
    }
    slim["model"] = slim["ema_model"]
    return save_checkpoint(dest, slim)


def shipped_checkpoint(task: str) -> Path | None:
    """The repository's shipped checkpoint for `task`, if there is one."""
    path = SHIPPED_DIR / task / SHIPPED_NAME
    return path if path.is_file() else None


def recipe_data(recipe: Recipe) -> Path:
    """A store holding exactly the recipe's demonstrations, recorded into the cache if missing.

    Demonstrations of one `data_key` share a store that grows as recipes ask for more episodes; a recipe
    asking for fewer gets a copy of the first ones (seeds run upwards, so those are the same episodes a
    smaller recording would hold).
    """
    import zarr

    data = cache_root() / "data"
    store = data / f"{recipe.task}-{recipe.data_key()}.zarr"
    record_demonstrations(recipe, store)
    if zarr.open_group(str(store), mode="r")["meta/episode_ends"].shape[0] == recipe.episodes:
        return store
    subset = data / f"{recipe.task}-{recipe.data_key()}-first{recipe.episodes}.zarr"
    if subset.exists():
        return subset
    return subset_store(store, recipe.episodes, subset)


def run_dir(recipe: Recipe) -> Path:
    """The cache folder of a recipe's training run."""
    return cache_root() / "runs" / f"{recipe.task}-{recipe.key()}"


def is_cached(recipe: Recipe) -> bool:
    """Whether the recipe's finished training run is in the cache (`recipe.json` is written last)."""
    run = run_dir(recipe)
    return (run / "recipe.json").is_file() and (run / "latest.pt").is_file()


def cached_checkpoint(recipe: Recipe, progress: bool = True, device: str = "cpu") -> Path:
    """The cached checkpoint of `recipe`, recording demonstrations and training it (on `device`) first if missing."""
    run = run_dir(recipe)
    checkpoint = run / "latest.pt"
    if is_cached(recipe):
        return checkpoint
    store = recipe_data(recipe)
    if progress:
        print(f"training the {recipe.task} policy ({recipe.num_epochs} epochs) → {run}", flush=True)
    return train_recipe(recipe, store, run, progress=progress, device=device)


def resolve_checkpoint(
    task: str, explicit: Path | None, recipe: Recipe, progress: bool = True, use_shipped: bool = True
) -> tuple[Path, str]:
    """(checkpoint path, where it came from): explicit, shipped, cached, or freshly trained."""
    if explicit is not None:
        if not explicit.is_file():
            raise RecipeError(f"--checkpoint {explicit} does not exist")
        return explicit, "given with --checkpoint"
    shipped = shipped_checkpoint(task) if use_shipped else None
    if shipped is not None:
        return shipped, f"shipped ({shipped})"
    run = run_dir(recipe) / "latest.pt"
    source = "cached" if run.is_file() else "trained now (cached for the next run)"
    return cached_checkpoint(recipe, progress), f"{source} ({run})"
