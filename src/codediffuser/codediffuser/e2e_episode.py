"""One episode of the whole method in the simulator: instruction → program → 3D attention → policy.

Shared by `codediffuser demo` and `codediffuser eval`, so both measure the same chain. The backends are
the simulator's embedded defaults (DESIGN.md §5), all documented oracles that read segmentation:

- `detect` groups the fused cloud by simulator object id (`codediffuser_codegen.oracle.
  metadata_detector`). The feature-similarity detector cannot be the default for Pack Battery: the
  tray's slots touch each other, so DBSCAN merges a whole row into one cluster.
- `sel_name` matches instance metadata (`match_metadata`); with an endpoint (`LlmConfig`) both the
  program and `sel_name` come from the VLM (`LlmProgramWriter`, `VlmNameSelector`).
- masks come from segmentation (`OracleMaskPredictor`) and are lifted onto the cloud by
  `codediffuser_perception.attention.compute_attention` without dilation, because the recorded
  demonstrations' ground-truth attention (`codediffuser_sim.record`) is the attended points exactly.

Attention while objects move: the program runs once, on the first cloud; its attended instances are
then followed by their simulator id — each control step fuses a new cloud, re-detects those ids on it
and recomputes the attention (`TrackedAttention`). Ground-truth attention for the evaluation's
condition (b) goes through the same function with the demonstration's choice (`chosen_object`,
`chosen_target`), so conditions differ only in which instances are attended.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from codediffuser_codegen.api import PerceptionAPI
from codediffuser_codegen.oracle import match_metadata, metadata_detector
from codediffuser_codegen.pipeline import InstructResult, OfflineWriter, run_instruction
from codediffuser_codegen.sandbox import Sandbox
from codediffuser_perception.attention import AttentionConfig, compute_attention
from codediffuser_perception.fusion import fuse_views
from codediffuser_perception.masks import OracleMaskPredictor
from codediffuser_perception.types import FeatureCloud, Instance, PerceptionError
from codediffuser_policy.kinematics import UnreachablePose
from codediffuser_policy.policy import DiffusionPolicy
from codediffuser_sim.env import Observation, SimError, TaskEnv, ee_action_to_command
from codediffuser_sim.record import ATTENTION_DILATION_M, RecordConfig

ATTENTION_CONFIG = AttentionConfig(dilation_m=ATTENTION_DILATION_M)
"""Mask lifting as the demonstrations were recorded: attended points exactly, no dilation margin."""
SUCCESS_HOLD_STEPS = 3
"""An episode ends early once the task has succeeded for this many consecutive control steps."""


class EpisodeError(RuntimeError):
    """An episode could not be run (e.g. no camera views); the message says what to fix."""


def scene_metadata(env: TaskEnv) -> dict[int, dict[str, str]]:
    """Object id → `category`, `name` and attributes of the current layout (the oracle backends' input)."""
    return {
        int(o.id): {"category": o.category, "name": o.name, **{k: str(v) for k, v in o.attributes.items()}}
        for o in env.objects
    }


def fuse(obs: Observation, record: RecordConfig) -> FeatureCloud:
    """The fused cloud of an observation, cropped and voxelised as the demonstrations were.

    Raises:
        EpisodeError: the environment renders no views.
    """
    if not obs.views:
        raise EpisodeError("the episode needs camera views: build the env with SimConfig(render=True)")
    return fuse_views(obs.views, record.fusion)


@dataclass
class Grounding:
    """What the code generator made of an instruction on the first cloud of an episode.

    Attributes:
        result: the codegen pipeline's result (program, log, attended instances, message).
        attended_ids: simulator ids of the attended instances, attend() order (object, then target).
        correct: the attended (object, target) satisfies the simulator's instruction; None when the
            instruction is not the simulator's own (a user's `--instruction`).
        seconds: wall time of program generation and its sandboxed run.
        candidates: every instance the program detected (for the composite image).
    """

    result: InstructResult
    attended_ids: tuple[int, ...]
    correct: bool | None
    seconds: float
    candidates: list[Instance] = field(default_factory=list)


def ground_instruction(
    env: TaskEnv,
    cloud: FeatureCloud,
    instruction: str,
    sandbox: Sandbox,
    llm: object | None = None,
) -> Grounding:
    """Write and run the program of `instruction` on `cloud` (the current episode's first cloud).

    Args:
        env: the environment after `reset` (its layout gives the oracle metadata).
        cloud: the fused cloud with its views and `object_ids`.
        instruction: the operator's instruction.
        sandbox: where the program runs.
        llm: a `codediffuser_codegen.llm.LlmConfig` to use an endpoint; None = the offline generator.

    Returns:
        The grounding; a failed generation has `result.success` False and no attended ids.
    """
    objects = scene_metadata(env)
    started = time.perf_counter()
    if llm is None:
        writer, name_backend, repairs = OfflineWriter(), match_metadata, 0
    else:
        from codediffuser_codegen.llm import LlmClient, LlmProgramWriter, VlmNameSelector

        client = LlmClient(llm)
        writer, name_backend, repairs = LlmProgramWriter(client), VlmNameSelector(client), llm.max_repairs
    api = PerceptionAPI(cloud, metadata_detector(objects), name_backend)
    result = run_instruction(instruction, api, writer, sandbox, max_repairs=repairs)
    ids = tuple(int(i.id) for i in result.attended)
    correct = None
    if env.instruction is not None and instruction.strip().lower().rstrip(".") == env.instruction.text:
        correct = len(ids) >= 2 and env.instruction.is_correct(ids[0], ids[1])
    return Grounding(result, ids, correct, time.perf_counter() - started, api.detected())


class TrackedAttention:
    """Per-step 3D attention of fixed simulator instances, followed by id on every new cloud.

    Args:
        objects: `scene_metadata(env)`.
        ids: attended object ids, attend() order.
        config: mask-lifting thresholds.
    """

    def __init__(
        self,
        objects: Mapping[int, Mapping[str, str]],
        ids: Sequence[int],
        config: AttentionConfig = ATTENTION_CONFIG,
    ) -> None:
        unknown = [i for i in ids if i not in objects]
        if unknown:
            raise EpisodeError(f"attended ids {unknown} are not objects of this scene")
        # `object_id` tells the oracle mask backend which segmentation id each prompt is.
        self._detect = metadata_detector({i: {**m, "object_id": str(i)} for i, m in objects.items()})
        self.ids = tuple(int(i) for i in ids)
        self.categories = sorted({objects[i]["category"] for i in self.ids})
        self.config = config
        self.predictor = OracleMaskPredictor()
        self.lost_steps = 0
        """Steps on which some attended instance was not visible in the cloud (its attention is 0)."""

    def __call__(self, cloud: FeatureCloud) -> np.ndarray:
        """(M,) float32 attention in [0, 1] aligned with `cloud.points`."""
        found: dict[int, Instance] = {}
        for category in self.categories:
            try:
                found.update({inst.id: inst for inst in self._detect(cloud, category)})
            except PerceptionError:
                continue
        instances = [found[i] for i in self.ids if i in found]
        if len(instances) < len(self.ids):
            self.lost_steps += 1
        return compute_attention(cloud, instances, self.predictor, self.config).values


@dataclass
class StepRecord:
    """What one control step of a rollout saw (handed to the caller's `on_step`).

    Attributes:
        step: control step index.
        obs: the observation the action was chosen from.
        cloud: its fused cloud.
        attention: (M,) attention on `cloud` (zeros for the baseline).
    """

    step: int
    obs: Observation
    cloud: FeatureCloud
    attention: np.ndarray


@dataclass
class RolloutResult:
    """Outcome of a closed-loop policy episode.

    Attributes:
        success: the simulator's success (`env.evaluate()`) at the end.
        evaluation: the full `env.evaluate()` dict.
        steps: control steps executed.
        seconds: wall time of the rollout.
        ik_failures: actions no IK solution reached (the arm held its last command instead).
        attention_lost_steps: steps where an attended instance was out of view.
        closest_approach_m: the nearest either gripper's TCP came to an object the instruction allows
            (`instruction.valid_objects`), over the episode — partial progress of a failed episode: it
            tells a policy that goes for an allowed object and misses the grasp from one that goes for
            the wrong object or nowhere.
        max_lift_m: the highest any allowed object rose above its height at the start while in a
            gripper (`held_lift`) — tells a policy that picked an allowed object up and failed the
            placement from one that never held it.
    """

    success: bool
    evaluation: dict
    steps: int
    seconds: float
    ik_failures: int
    attention_lost_steps: int
    closest_approach_m: float
    max_lift_m: float


def run_policy(
    env: TaskEnv,
    policy: DiffusionPolicy,
    first: Observation,
    record: RecordConfig,
    attention: TrackedAttention | None,
    max_steps: int,
    seed: int = 0,
    on_step: Callable[[StepRecord], None] | None = None,
) -> RolloutResult:
    """Run the policy closed-loop from `first` for at most `max_steps` control steps.

    The policy is queried every `n_action_steps` steps and observes every step in between (its history
    holds consecutive steps, as in training). Actions are end-effector poses; IK turns them into joint
    commands; an unreachable action keeps the previous command. The episode stops early once the task
    has succeeded for `SUCCESS_HOLD_STEPS` steps.

    Args:
        env: environment after `reset`.
        policy: a loaded policy; the baseline (no attention) ignores `attention`.
        first: the observation after `reset`.
        record: fusion/crop settings the policy was trained with.
        attention: per-step attention (None = zeros, for the no-attention baseline).
        max_steps: episode length limit in control steps.
        seed: the policy's sampling seed for this episode.
        on_step: called once per step with what the policy saw.
    """
    started = time.perf_counter()
    policy.reset(seed)
    obs = first
    last_command = env.joint_pos().astype(np.float64)
    n_action = policy.config.n_action_steps
    chunk: np.ndarray | None = None
    ik_failures, held, steps = 0, 0, 0
    valid = env.instruction.valid_objects if env.instruction is not None else ()
    closest = math.inf
    start_z = {i: env.pose(i)[2, 3] for i in valid}
    lift = 0.0
    for t in range(max_steps):
        closest = min(closest, closest_approach(env, valid))
        lift = max(lift, held_lift(env, start_z))
        cloud = fuse(obs, record)
        values = attention(cloud) if attention is not None else np.zeros(len(cloud), np.float32)
        if on_step is not None:
            on_step(StepRecord(t, obs, cloud, values))
        model_obs = {"point_cloud": cloud.points, "attention": values, "agent_pos": obs.ee_pose}
        if t % n_action == 0:
            chunk = policy.predict_action(model_obs).actions
        else:
            policy.observe(model_obs)
        try:
            command = env.validate_command(ee_action_to_command(env, chunk[t % n_action]))
        except (UnreachablePose, SimError):
            ik_failures += 1
            command = last_command
        obs = env.step(command)
        last_command = command
        steps = t + 1
        held = held + 1 if env.evaluate()["success"] else 0
        if held >= SUCCESS_HOLD_STEPS:
            break
    closest = min(closest, closest_approach(env, valid))
    lift = max(lift, held_lift(env, start_z))
    evaluation = env.evaluate()
    return RolloutResult(
        success=bool(evaluation["success"]),
        evaluation=evaluation,
        steps=steps,
        seconds=time.perf_counter() - started,
        ik_failures=ik_failures,
        attention_lost_steps=0 if attention is None else attention.lost_steps,
        closest_approach_m=closest,
        max_lift_m=lift,
    )


def tcp_positions(env: TaskEnv) -> list[np.ndarray]:
    """World positions (3,) of both arms' tool centre points, from the measured joints."""
    return [arm.model.fk_world(arm.q_arm)[:3, 3] for arm in env.arms.values()]


def closest_approach(env: TaskEnv, object_ids: Sequence[int]) -> float:
    """Smallest distance (m) between either arm's TCP (measured joints) and any of `object_ids`.

    Measured to each object's grasp point (`TaskEnv.grasp_point`), where the expert's fingers close.
    """
    tcps = tcp_positions(env)
    return min(
        (float(np.linalg.norm(tcp - env.grasp_point(i))) for tcp in tcps for i in object_ids),
        default=math.inf,
    )


HOLD_M = 0.04
"""An object whose grasp point is this close to a gripper's TCP counts as held (a policy's grasps
close within 2 cm of it); a battery knocked into the air is not."""


def held_lift(env: TaskEnv, start_z: dict[int, float]) -> float:
    """How far (m) the highest held object of `start_z` (id → starting height) is above its start.

    Only objects within `HOLD_M` of either TCP count: a fast arm can knock a battery 30 cm into the air
    without grasping it, which must not count as a pick-up.
    """
    tcps = tcp_positions(env)
    lifts = []
    for i, z in start_z.items():
        if min(np.linalg.norm(env.grasp_point(i) - tcp) for tcp in tcps) <= HOLD_M:
            lifts.append(float(env.pose(i)[2, 3] - z))
    return max(lifts, default=0.0)
