"""`codediffuser import-bag`: ALOHA teleoperation bags → the zarr dataset of docs/dataset.md.

One ROS 2 bag = one demonstration, recorded with the topics of docs/real_robot.md:

- per camera `camN` of config/cameras.yaml: `/cameras/camN/color/image_raw` (rgb8/bgr8),
  `/cameras/camN/aligned_depth_to_color/image_raw` (16UC1 mm or 32FC1 m), `/cameras/camN/color/camera_info`;
- `/follower_left/joint_states`, `/follower_right/joint_states` (interbotix: six arm joints + `gripper`
  motor angle in rad).

Time alignment uses the header stamps (sensor time). A control grid at `control_hz` spans the interval
every stream covers; at each grid time every stream contributes its nearest message, which must lie
within `tolerance_s` (else the import stops and names the topic and the gap). Before that, the clocks
are checked: each topic's stamps must track its bag receive times with the same offset (within
`max_clock_skew_s`), which catches a camera stamping with its own hardware clock.

Per step: the four views (K from camera_info, `T_world_cam` from the rig file) are fused
(`codediffuser_perception.fusion.fuse_views`) and cropped + sampled to `n_points`
(`sampling.crop_and_sample`); each arm's joints go through FK (`codediffuser_policy.kinematics`) to the
tool pose in its base frame, xyz + rot6d + gripper normalised [0 closed, 1 open]. `agent_pos[t]` is the
pose at step t and `action[t]` the pose at step t + 1 (the last step holds still): the follower's next
state is the target the teleoperator commanded. Attention is zero until `codediffuser label` writes it.
The step-0 views of each episode are saved beside the store (`observations_dir`, one `.npz` per
episode, `codediffuser_perception.observation` format) for `codediffuser annotate --observation`, which
stores the reference features `detect` needs on the robot.

Frames are decoded in one streaming pass after the alignment pass, so memory holds only the frames of
steps not yet fused, never the whole bag.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from codediffuser.calibration_config import CalibrationError, CamerasConfig, load_cameras_config
from codediffuser_perception import ros_conversions as conv
from codediffuser_perception.types import CameraView, PerceptionError

if TYPE_CHECKING:
    from codediffuser.calibrate import CameraFrames

ARM_SIDES = ("left", "right")
STREAMS = {
    "rgb": "color/image_raw",
    "depth": "aligned_depth_to_color/image_raw",
    "info": "color/camera_info",
}
"""Per-camera topic suffixes under `/cameras/<name>/`."""
SERIAL_KEY_PREFIX = "camera_serial."
"""Bag metadata `custom_data` keys `camera_serial.<camera>` = serial (`ros2 bag record --custom-data`, Iron+)."""


class ImportBagError(ValueError):
    """A bag that cannot become an episode: missing topics, clock problems, gaps, wrong cameras."""


def camera_topic(camera: str, stream: str) -> str:
    """The ROS topic of one stream ("rgb", "depth", "info") of camera `camera`."""
    return f"/cameras/{camera}/{STREAMS[stream]}"


def arm_topic(side: str) -> str:
    """The joint-state topic of the follower arm `side`."""
    return f"/follower_{side}/joint_states"


@dataclass(frozen=True)
class ImportConfig:
    """How a bag becomes steps.

    Attributes:
        control_hz: rate of the resampled steps (the dataset's `control_hz`).
        tolerance_s: largest |message stamp − grid time| accepted for any stream.
        max_clock_skew_s: largest difference between topics of (receive time − header stamp).
        n_points: points per step after crop + sample.
        workspace_min, workspace_max: crop box, world frame, metres.
        voxel_size_m: fusion voxel size.
        seed: base seed of the point sampling (step t uses (seed, t)).
    """

    control_hz: float = 10.0
    tolerance_s: float = 0.05
    max_clock_skew_s: float = 0.5
    n_points: int = 1024
    workspace_min: tuple[float, float, float] = (-0.5, -0.4, -0.02)
    workspace_max: tuple[float, float, float] = (0.5, 0.4, 0.5)
    voxel_size_m: float = 0.005
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.control_hz > 0:
            raise ImportBagError(f"control_hz must be > 0, got {self.control_hz}")
        if not self.tolerance_s > 0 or not self.max_clock_skew_s > 0:
            raise ImportBagError(
                f"tolerance_s and max_clock_skew_s must be > 0, got {self.tolerance_s}, {self.max_clock_skew_s}"
            )
        if self.n_points <= 0:
            raise ImportBagError(f"n_points must be > 0, got {self.n_points}")


class Bag:
    """A rosbag2 bag read with `rosbags` and the project's typestore (`codediffuser.interfaces`)."""

    def __init__(self, path: str | Path) -> None:
        from rosbags.rosbag2 import Reader

        from codediffuser.interfaces import get_typestore

        self.path = Path(path)
        if not self.path.exists():
            raise ImportBagError(f"{self.path}: no such bag")
        self._reader = Reader(self.path)
        self._store = get_typestore()

    def __enter__(self) -> Bag:
        self._reader.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._reader.close()

    @property
    def topics(self) -> dict[str, str]:
        """Topic → message type of every connection in the bag."""
        return {c.topic: c.msgtype for c in self._reader.connections}

    def custom_data(self) -> dict[str, str]:
        """The `custom_data` of the bag's metadata.yaml (rosbag2 format ≥ 6), or {}."""
        meta = self.path / "metadata.yaml" if self.path.is_dir() else self.path.parent / "metadata.yaml"
        if not meta.is_file():
            return {}
        info = (yaml.safe_load(meta.read_text()) or {}).get("rosbag2_bagfile_information", {})
        return {str(k): str(v) for k, v in (info.get("custom_data") or {}).items()}

    def messages(self, topics: Sequence[str]) -> Iterator[tuple[str, int, float, Any]]:
        """(topic, index within the topic, receive time in s, deserialised message), in bag order."""
        connections = [c for c in self._reader.connections if c.topic in set(topics)]
        counters = dict.fromkeys(topics, 0)
        for conn, receive_ns, raw in self._reader.messages(connections=connections):
            msg = self._store.deserialize_cdr(raw, conn.msgtype)
            index = counters[conn.topic]
            counters[conn.topic] += 1
            yield conn.topic, index, receive_ns * 1e-9, msg


def required_topics(cameras: Sequence[str], with_depth: bool = True, with_arms: bool = True) -> list[str]:
    """Every topic an import (or, without depth and arms, a calibration) needs."""
    streams = ("rgb", "depth", "info") if with_depth else ("rgb", "info")
    topics = [camera_topic(c, s) for c in cameras for s in streams]
    return topics + ([arm_topic(side) for side in ARM_SIDES] if with_arms else [])


def check_topics(bag: Bag, topics: Sequence[str]) -> None:
    """Raise `ImportBagError` naming every required topic the bag lacks (and what it has)."""
    present = bag.topics
    missing = [t for t in topics if t not in present]
    if missing:
        raise ImportBagError(
            f"{bag.path}: missing topics {missing}; the bag has {sorted(present)}. Record with the command "
            "of docs/real_robot.md"
        )


def check_clocks(
    stamps: Mapping[str, np.ndarray], received: Mapping[str, np.ndarray], max_skew_s: float
) -> None:
    """Raise `ImportBagError` unless all topics' header stamps share one clock.

    Per topic, the median of (receive time − header stamp) is its transport delay plus its clock offset;
    delays are milliseconds, so offsets between topics beyond `max_skew_s` mean different clocks.
    """
    offsets = {t: float(np.median(received[t] - stamps[t])) for t in stamps}
    reference = float(np.median(list(offsets.values())))
    bad = {t: round(o - reference, 3) for t, o in offsets.items() if abs(o - reference) > max_skew_s}
    if bad:
        raise ImportBagError(
            f"unsynchronised clocks: these topics are stamped off the others by (s) {bad}. Stamp all "
            "sensors with the host clock (realsense2_camera: global_time_enabled true) and sync the "
            "computers (chrony), then re-record"
        )


def control_grid(stamps: Mapping[str, np.ndarray], control_hz: float) -> np.ndarray:
    """Grid times (s) over the interval every stream covers.

    Raises:
        ImportBagError: the streams do not overlap in time (names the latest start and earliest end).
    """
    start_topic = max(stamps, key=lambda t: stamps[t][0])
    end_topic = min(stamps, key=lambda t: stamps[t][-1])
    start, end = stamps[start_topic][0], stamps[end_topic][-1]
    if end <= start:
        raise ImportBagError(
            f"the streams do not overlap in time: {start_topic} starts at {start:.3f} s, {end_topic} ends "
            f"at {end:.3f} s"
        )
    return start + np.arange(int(np.floor((end - start) * control_hz + 1e-9)) + 1) / control_hz


def nearest_indices(stamps: np.ndarray, grid: np.ndarray, tolerance_s: float, topic: str) -> np.ndarray:
    """(S,) index of the message nearest each grid time.

    Raises:
        ImportBagError: some grid time has no message within `tolerance_s` (names topic, time, gap).
    """
    right = (
        np.clip(np.searchsorted(stamps, grid), 1, len(stamps) - 1)
        if len(stamps) > 1
        else np.zeros(len(grid), int)
    )
    left = np.maximum(right - 1, 0)
    nearest = np.where(np.abs(stamps[left] - grid) <= np.abs(stamps[right] - grid), left, right)
    gap = np.abs(stamps[nearest] - grid)
    late = np.flatnonzero(gap > tolerance_s)
    if len(late):
        raise ImportBagError(
            f"{topic}: no message within {tolerance_s} s of t = {grid[late[0]] - grid[0]:.3f} s into the episode "
            f"({len(late)} steps affected, largest gap {gap.max():.3f} s): the stream dropped frames; "
            "re-record or raise --tolerance-s"
        )
    return nearest


DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "")
"""camera_info distortion models whose coefficients OpenCV reads as given ("" = none)."""


def _camera_info(msg: Any) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(K, distortion, width, height) of a CameraInfo.

    Raises:
        ImportBagError: a distortion model OpenCV's pinhole functions would misread (e.g. equidistant).
    """
    model = str(msg.distortion_model)
    if model not in DISTORTION_MODELS:
        raise ImportBagError(
            f"{msg.header.frame_id}: distortion model {model!r} is not supported (use {DISTORTION_MODELS[:2]})"
        )
    return conv.camera_info_to_K(msg), np.asarray(msg.d, dtype=np.float64), int(msg.width), int(msg.height)


def arm_joints(msg: Any, side: str) -> np.ndarray:
    """(7,) [six arm joints (rad), gripper normalised 0 closed … 1 open] from an interbotix JointState.

    Raises:
        ImportBagError: a joint is missing (names it and the joints present).
    """
    from codediffuser_policy.kinematics import convert_gripper, load_arm_model

    positions = conv.joint_state_to_dict(msg)
    wanted = [*load_arm_model(side).joint_names, "gripper"]
    missing = [n for n in wanted if n not in positions]
    if missing:
        raise ImportBagError(
            f"{arm_topic(side)}: joints {missing} missing, the message has {list(positions)}"
        )
    q = np.array([positions[n] for n in wanted])
    q[6] = float(convert_gripper(q[6], "motor_rad", "normalized"))
    return q


def ee_vector(side: str, joints: np.ndarray) -> np.ndarray:
    """(10,) [xyz (m, arm base frame), rot6d, gripper] of one arm from its (7,) `arm_joints`."""
    from codediffuser_perception.geometry import pose_to_xyz_rot6d
    from codediffuser_policy.kinematics import load_arm_model

    T = load_arm_model(side).fk(joints[:6])
    return np.concatenate([pose_to_xyz_rot6d(T), joints[6:7]])


def check_rig(bag: Bag, rig: CamerasConfig, infos: Mapping[str, Any], max_fx_diff: float = 0.02) -> None:
    """Raise `ImportBagError` unless the bag's cameras are the calibrated cameras of the rig file.

    Checks: each camera is calibrated (not the nominal pose); when the bag records serials
    (`custom_data` keys `camera_serial.<camera>`), each is known and belongs to that camera name; the camera_info
    intrinsics agree with the rig file's (a swapped or replaced camera has other factory intrinsics).
    """
    for key, serial in bag.custom_data().items():
        if not key.startswith(SERIAL_KEY_PREFIX):
            continue
        name = key.removeprefix(SERIAL_KEY_PREFIX)
        try:
            owner = rig.by_serial(serial.strip())
        except CalibrationError as error:
            raise ImportBagError(f"bag camera {name}: {error}; calibrate that camera first") from error
        if owner.name != name:
            raise ImportBagError(
                f"bag camera {name} has serial {serial.strip()}, which config/cameras.yaml assigns to "
                f"{owner.name}: the cameras were re-plugged under other names"
            )
    for name, msg in infos.items():
        cam = rig.camera(name)
        if not cam.is_calibrated:
            raise ImportBagError(
                f"{name} has only its nominal pose in the rig file: run `codediffuser calibrate` first"
            )
        K, _, width, height = _camera_info(msg)
        if (width, height) != (cam.width, cam.height) or abs(K[0, 0] / cam.K[0, 0] - 1) > max_fx_diff:
            raise ImportBagError(
                f"{name}: the bag's camera ({width}×{height}, fx {K[0, 0]:.1f}) is not the calibrated one "
                f"(serial {cam.serial}: {cam.width}×{cam.height}, fx {cam.K[0, 0]:.1f}); was a camera "
                "swapped or the resolution changed? Re-run `codediffuser calibrate`"
            )


@dataclass
class _Alignment:
    grid: np.ndarray
    index: dict[str, np.ndarray]  # topic → (S,) message index per step
    infos: dict[str, Any]  # camera → first CameraInfo


def _align(bag: Bag, rig: CamerasConfig, cameras: Sequence[str], config: ImportConfig) -> _Alignment:
    timed = [camera_topic(c, s) for c in cameras for s in ("rgb", "depth")] + [
        arm_topic(s) for s in ARM_SIDES
    ]
    stamps: dict[str, list[float]] = {t: [] for t in timed}
    received: dict[str, list[float]] = {t: [] for t in timed}
    infos: dict[str, Any] = {}
    info_topics = {camera_topic(c, "info"): c for c in cameras}
    for topic, _, receive_s, msg in bag.messages(timed + list(info_topics)):
        if topic in info_topics:
            infos.setdefault(info_topics[topic], msg)
            continue
        stamps[topic].append(conv.stamp_to_seconds(msg.header.stamp))
        received[topic].append(receive_s)
    empty = [t for t in [*timed, *info_topics] if not (stamps.get(t) or info_topics.get(t) in infos)]
    if empty:
        raise ImportBagError(f"{bag.path}: topics without messages: {empty}")
    st = {t: np.asarray(v) for t, v in stamps.items()}
    for topic, values in st.items():
        if np.any(np.diff(values) < 0):
            raise ImportBagError(f"{topic}: header stamps go backwards; the recording clock jumped")
    check_clocks(st, {t: np.asarray(v) for t, v in received.items()}, config.max_clock_skew_s)
    check_rig(bag, rig, infos)
    grid = control_grid(st, config.control_hz)
    index = {t: nearest_indices(st[t], grid, config.tolerance_s, t) for t in timed}
    return _Alignment(grid, index, infos)


@dataclass
class ImportedEpisode:
    """What one bag yields.

    Attributes:
        steps: the step arrays of `DatasetWriter.add_episode` (attention all zero).
        first_views: the camera views of step 0 (for `codediffuser annotate` reference features).
    """

    steps: dict[str, np.ndarray]
    first_views: list[CameraView]


def observations_dir(store: str | Path) -> Path:
    """Where step-0 observations of a store's episodes go: `data/real.zarr` → `data/real.observations/`."""
    store = Path(store)
    return store.with_name(store.name.removesuffix(".zarr") + ".observations")


def import_episode(bag_path: str | Path, rig: CamerasConfig, config: ImportConfig) -> ImportedEpisode:
    """One bag → its steps (docs/dataset.md) and its step-0 camera views.

    Raises:
        ImportBagError: missing topics, clock problems, gaps, cameras that are not the calibrated ones,
            or a step whose fused cloud is empty (names the step).
    """
    from codediffuser_perception.fusion import FusionConfig, fuse_views
    from codediffuser_perception.sampling import crop_and_sample

    cameras = list(rig.cameras)
    with Bag(bag_path) as bag:
        check_topics(bag, required_topics(cameras))
        aligned = _align(bag, rig, cameras, config)
        n_steps = len(aligned.grid)
        wanted: dict[tuple[str, int], list[int]] = {}
        for topic, idx in aligned.index.items():
            for step, i in enumerate(idx):
                wanted.setdefault((topic, int(i)), []).append(step)
        fusion = FusionConfig(
            workspace_min=config.workspace_min,
            workspace_max=config.workspace_max,
            voxel_size_m=config.voxel_size_m,
            camera_names=tuple(cameras),
        )
        intrinsics = {c: _camera_info(aligned.infos[c]) for c in cameras}
        pending: dict[int, dict[str, Any]] = {}
        first_views: list[CameraView] = []
        joints = np.zeros((n_steps, 14))
        points = np.zeros((n_steps, config.n_points, 3), np.float32)
        colors = np.zeros((n_steps, config.n_points, 3), np.uint8)
        arm_slots = {arm_topic(side): slice(7 * k, 7 * k + 7) for k, side in enumerate(ARM_SIDES)}
        n_frames = 2 * len(cameras)
        for topic, index, _, msg in bag.messages(list(aligned.index)):
            steps = wanted.get((topic, index))
            if not steps:
                continue
            if topic in arm_slots:
                side = ARM_SIDES[arm_slots[topic].start // 7]
                joints[steps, arm_slots[topic]] = arm_joints(msg, side)
                continue
            frame = conv.image_to_depth_m(msg) if topic.endswith(STREAMS["depth"]) else conv.image_to_rgb(msg)
            for step in steps:
                pending.setdefault(step, {})[topic] = frame
                if len(pending[step]) < n_frames:
                    continue
                frames = pending.pop(step)
                views = [
                    CameraView(
                        name=c,
                        rgb=frames[camera_topic(c, "rgb")],
                        depth=frames[camera_topic(c, "depth")],
                        K=intrinsics[c][0],
                        T_world_cam=rig.camera(c).T_world_cam,
                        stamp=float(aligned.grid[step]),
                    )
                    for c in cameras
                ]
                if step == 0:
                    first_views = views
                try:
                    cloud = fuse_views(views, fusion)
                    rng = np.random.default_rng((config.seed, step))
                    points[step], colors[step] = crop_and_sample(
                        cloud.points,
                        np.asarray(config.workspace_min),
                        np.asarray(config.workspace_max),
                        config.n_points,
                        rng,
                        cloud.colors,
                    )
                except PerceptionError as error:
                    raise ImportBagError(
                        f"{bag.path}: step {step} (t = {aligned.grid[step] - aligned.grid[0]:.2f} s): {error}"
                    ) from error
        if pending:
            raise ImportBagError(f"{bag.path}: steps {sorted(pending)[:5]} never received all camera frames")
    agent = np.concatenate(
        [
            np.stack([ee_vector(side, joints[t, 7 * k : 7 * k + 7]) for t in range(n_steps)])
            for k, side in enumerate(ARM_SIDES)
        ],
        axis=1,
    )
    action = np.concatenate([agent[1:], agent[-1:]], axis=0)
    steps = {
        "point_cloud": points,
        "colors": colors,
        "attention": np.zeros((n_steps, config.n_points), np.float32),
        "agent_pos": agent.astype(np.float32),
        "action": action.astype(np.float32),
        "joint_pos": joints.astype(np.float32),
    }
    return ImportedEpisode(steps, first_views)


def load_calibration_frames(
    bag_path: str | Path, cameras: Sequence[str], max_frames: int
) -> dict[str, CameraFrames]:
    """`calibrate.CameraFrames` per camera from a bag's colour images and camera_info (evenly spaced).

    Raises:
        CalibrationError: a topic is missing or empty (names it).
    """
    from codediffuser.calibrate import CameraFrames

    try:
        with Bag(bag_path) as bag:
            check_topics(bag, required_topics(cameras, with_depth=False, with_arms=False))
            counts = {t: 0 for t in required_topics(cameras, with_depth=False, with_arms=False)}
            infos: dict[str, Any] = {}
            for topic, _, _, msg in bag.messages(list(counts)):
                counts[topic] += 1
                if topic.endswith(STREAMS["info"]):
                    infos.setdefault(topic.split("/")[2], msg)
            frames = {}
            keep = {}
            for c in cameras:
                n = counts[camera_topic(c, "rgb")]
                if n == 0 or c not in infos:
                    raise CalibrationError(f"{c}: no images or camera_info in {bag_path}")
                keep[camera_topic(c, "rgb")] = set(
                    np.linspace(0, n - 1, min(n, max_frames)).round().astype(int).tolist()
                )
            images: dict[str, list[np.ndarray]] = {c: [] for c in cameras}
            for topic, index, _, msg in bag.messages(list(keep)):
                if index in keep[topic]:
                    images[topic.split("/")[2]].append(conv.image_to_rgb(msg))
            for c in cameras:
                K, dist, width, height = _camera_info(infos[c])
                frames[c] = CameraFrames(images[c], K, dist, width, height, f"bag:{Path(bag_path).name}")
            return frames
    except ImportBagError as error:
        raise CalibrationError(str(error)) from error


def build_parser() -> argparse.ArgumentParser:
    """Options of `codediffuser import-bag`."""
    defaults = ImportConfig()
    parser = argparse.ArgumentParser(
        prog="codediffuser import-bag",
        description="ALOHA teleoperation bags (one demonstration each) → the zarr dataset of docs/dataset.md.",
    )
    parser.add_argument("bags", nargs="+", type=Path, help="rosbag2 folders, one episode each")
    parser.add_argument("--output", type=Path, required=True, help="zarr store (created or appended to)")
    parser.add_argument("--task", required=True, help="task name stored with each episode, e.g. pack_battery")
    parser.add_argument(
        "--config", type=Path, default=Path("config/cameras.yaml"), help="calibrated rig file"
    )
    parser.add_argument("--control-hz", type=float, default=defaults.control_hz)
    parser.add_argument("--tolerance-s", type=float, default=defaults.tolerance_s)
    parser.add_argument("--max-clock-skew-s", type=float, default=defaults.max_clock_skew_s)
    parser.add_argument("--n-points", type=int, default=defaults.n_points)
    parser.add_argument("--workspace-min", type=float, nargs=3, default=defaults.workspace_min)
    parser.add_argument("--workspace-max", type=float, nargs=3, default=defaults.workspace_max)
    parser.add_argument("--voxel-size-m", type=float, default=defaults.voxel_size_m)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Import every bag; 0 = all written, 2 = a bag was refused (earlier bags stay in the store)."""
    args = build_parser().parse_args(argv)
    from codediffuser_perception.observation import save_views
    from codediffuser_policy.dataset import DatasetError, DatasetWriter

    try:
        config = ImportConfig(
            control_hz=args.control_hz,
            tolerance_s=args.tolerance_s,
            max_clock_skew_s=args.max_clock_skew_s,
            n_points=args.n_points,
            workspace_min=tuple(args.workspace_min),
            workspace_max=tuple(args.workspace_max),
            voxel_size_m=args.voxel_size_m,
            seed=args.seed,
        )
        rig = load_cameras_config(args.config)
        writer = DatasetWriter(
            args.output, config.n_points, config.control_hz, config.workspace_min, config.workspace_max
        )
        for i, bag in enumerate(args.bags):
            episode = import_episode(bag, rig, config)
            steps = episode.steps
            index = writer.add_episode(
                steps,
                task=args.task,
                level="real",
                seed=config.seed + i,
                instruction="",
                attended=[],
                success=True,
            )
            observation = observations_dir(args.output) / f"episode_{index:04d}.npz"
            observation.parent.mkdir(parents=True, exist_ok=True)
            save_views(observation, episode.first_views)
            print(
                f"{bag}: episode {index}, {len(steps['action'])} steps at {config.control_hz:g} Hz; "
                f"step-0 views in {observation}"
            )
    except (ImportBagError, CalibrationError, DatasetError, PerceptionError) as error:
        print(f"codediffuser import-bag: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}; label the episodes with `codediffuser label {args.output}`")
    return 0
