"""Record scripted demonstrations as policy training steps (docs/dataset.md) through `DatasetWriter`.

Per control step: the four views are fused (`codediffuser_perception.fusion.fuse_views`), the ground-truth
attention is 1 on the points whose segmentation id is one of the episode's attended instances (the chosen
object and target, docs/instructions.md) and 0 elsewhere, and `crop_and_sample` draws the fixed-size cloud
the policy sees — the same function training and the deployed node use. The action of a step is the
end-effector pose of the command issued from it (FK of the commanded joints, per arm base frame), so
training targets are exactly what the expert asked the robot to do.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from codediffuser_perception.attention import ground_truth_attention
from codediffuser_perception.fusion import FusionConfig, fuse_views
from codediffuser_perception.sampling import crop_and_sample
from codediffuser_policy.dataset import DatasetWriter
from codediffuser_policy.kinematics import joints_to_action
from codediffuser_sim.env import Observation, TaskEnv
from codediffuser_sim.expert import run_expert

ATTENTION_DILATION_M = 0.0
"""Ground-truth attention is the attended instances' own points, undilated: what the simulator's
codegen paths produce at run time (`codediffuser.e2e_episode`, and `instance_attention` in the sim
graph's codegen node, which has no mask model), so training and deployment see one definition."""


@dataclass
class RecordConfig:
    """What a recorded step contains.

    Attributes:
        n_points: points per step after `crop_and_sample`.
        workspace_min, workspace_max: crop box in the world frame (metres); the lower z bound sits just
            above the table top so the table plane does not dominate the cloud.
        voxel_size_m: fusion voxel size.
        outlier_neighbors: statistical outlier removal of the fusion; 0 (default) skips it, the simulated
            depth has no flying pixels and the step costs a third less.
    """

    n_points: int = 1024
    workspace_min: tuple[float, float, float] = (-0.4, -0.3, 0.004)
    workspace_max: tuple[float, float, float] = (0.4, 0.3, 0.45)
    voxel_size_m: float = 0.005
    outlier_neighbors: int = 0
    fusion: FusionConfig = field(init=False)

    def __post_init__(self) -> None:
        if self.n_points <= 0:
            raise ValueError(f"n_points must be > 0, got {self.n_points}")
        self.fusion = FusionConfig(
            workspace_min=self.workspace_min,
            workspace_max=self.workspace_max,
            voxel_size_m=self.voxel_size_m,
            outlier_neighbors=self.outlier_neighbors,
        )


def task_record_config(config: RecordConfig, env: TaskEnv) -> RecordConfig:
    """`config` with the top of its crop box lowered to the task's `crop_top_m` (if that is lower)."""
    if env.crop_top_m is None or env.crop_top_m >= config.workspace_max[2]:
        return config
    if env.crop_top_m <= config.workspace_min[2]:
        raise ValueError(f"task {env.name!r} crop top {env.crop_top_m} m is below the box's bottom")
    top = (*config.workspace_max[:2], env.crop_top_m)
    return dataclasses.replace(config, workspace_max=top)


def attended_cloud(
    obs: Observation, attended_ids: tuple[int, ...], config: RecordConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fused, cropped, sampled (points (N, 3), colors (N, 3) uint8, attention (N,)) of one observation."""
    cloud = fuse_views(obs.views, config.fusion)
    attention = ground_truth_attention(cloud, attended_ids, dilation_m=ATTENTION_DILATION_M).values
    points, colors, attention = crop_and_sample(
        cloud.points,
        np.asarray(config.workspace_min),
        np.asarray(config.workspace_max),
        config.n_points,
        rng,
        cloud.colors,
        attention,
    )
    return points, colors, attention


def record_episode(
    env: TaskEnv, seed: int, level: str, config: RecordConfig
) -> tuple[dict[str, np.ndarray], dict]:
    """Reset to (seed, level), run the expert, and return the step arrays and episode attributes.

    Raises:
        SimError / ExpertError: the episode cannot be set up or planned (callers skip that seed).
    """
    first = env.reset(seed, level)
    if not first.views:
        raise ValueError("recording needs cameras: build the env with SimConfig(render=True)")
    instr = env.instruction
    attended = (instr.chosen_object, instr.chosen_target)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[np.ndarray]] = {
        k: [] for k in ("point_cloud", "colors", "attention", "agent_pos", "action", "joint_pos")
    }

    def on_step(obs: Observation, command: np.ndarray) -> None:
        points, colors, attention = attended_cloud(obs, attended, config, rng)
        rows["point_cloud"].append(points)
        rows["colors"].append(colors)
        rows["attention"].append(attention)
        rows["agent_pos"].append(obs.ee_pose)
        rows["action"].append(joints_to_action(env.arm_models(), command))
        rows["joint_pos"].append(obs.joint_pos)

    result = run_expert(env, on_step, first=first)
    steps = {key: np.stack(values) for key, values in rows.items()}
    attrs = {
        "task": env.name,
        "level": level,
        "seed": int(seed),
        "instruction": instr.text,
        "attended": [env.object(i).name for i in attended],
        "success": bool(result["success"]),
    }
    return steps, attrs


def open_writer(path, env: TaskEnv, config: RecordConfig) -> DatasetWriter:
    """A `DatasetWriter` for this env's control rate and the config's crop (reopens an existing store)."""
    return DatasetWriter(
        path, config.n_points, env.config.control_hz, config.workspace_min, config.workspace_max
    )
