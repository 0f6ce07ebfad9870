r"""`codediffuser label`: the paper's lightweight annotation of real demonstrations.

Per episode a person gives the instruction and clicks the attended instances (attend() order) on a
top-down picture of the episode's first fused cloud; everything else is computed. The ground-truth 3D
attention of every step follows the clicked objects while they move:

1. step 0: the points above the table are split into connected components (DBSCAN, as
   `codediffuser_perception.detect` clusters its candidates); the click selects the component with the
   point nearest to it (horizontal distance, at most `max_click_distance_m`), joined by the fragments
   lying wholly within the ball of its size plus `track_margin_m`;
2. step t > 0: the same gathering around the previous centroid with the step-0 ball, anchored on the
   point nearest to it (so a gripper touching the object, which reaches out of the ball, does not
   join it); the new centroid is carried to the next step;
3. a target that is part of a larger object (a tray slot, a branch) is labelled as a fixed region
   instead: the above-table points within its radius of the click, at every step;
4. attention = the instances' points grown by `dilation_m` with `codediffuser_perception.attention.dilate`
   (the same margin the deployed attention uses), 1.0 inside, 0 elsewhere.

Labels are stored beside the dataset (`<store>.labels.json`, see `labels_path`) and applied to it:
`data/attention` rows of the episode and its `instruction` / `attended` attributes (docs/dataset.md).
Re-labelling an episode replaces both. The pure functions here are what the web page (`label_ui`)
and the command line call.

    codediffuser label data/real.zarr --list
    codediffuser label data/real.zarr --episode 0 --instruction "pack the red battery into the left slot" \
        --attend "red battery@-0.15,0.05" "slot front-1@0.20,-0.10~0.03"
    codediffuser label data/real.zarr --serve            # http://127.0.0.1:8765
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from codediffuser_perception.types import PerceptionError

LABELS_FORMAT = "codediffuser-labels-v1"


class LabelError(ValueError):
    """A label that cannot be applied: unknown episode, a click on no object, a lost track."""


@dataclass(frozen=True)
class TrackConfig:
    """How clicks become per-step instances.

    Attributes:
        table_z_m: world height of the table top; points below `table_z_m + min_height_m` are table.
        min_height_m: height above the table a point needs to belong to an object.
        eps_m: linking distance floor of the object components (see `object_components`).
        max_click_distance_m: largest horizontal distance from a click to the object it selects.
        track_margin_m: the ball an instance may occupy at the next step is its step-0 radius plus this.
        dilation_m: attention margin around the instance's points (the deployed attention's 16 mm).
    """

    table_z_m: float = 0.0
    min_height_m: float = 0.01
    eps_m: float = 0.015
    max_click_distance_m: float = 0.03
    track_margin_m: float = 0.03
    dilation_m: float = 0.016

    def __post_init__(self) -> None:
        for name in ("min_height_m", "eps_m", "max_click_distance_m", "track_margin_m"):
            if not getattr(self, name) > 0:
                raise LabelError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.dilation_m < 0:
            raise LabelError(f"dilation_m must be >= 0, got {self.dilation_m}")


@dataclass(frozen=True)
class AttendedLabel:
    """One clicked instance.

    Attributes:
        name: what the person calls it ("red battery", "slot front-1"); stored as the episode's `attended`.
        click_xy: (x, y) world position of the click at step 0, metres.
        radius_m: None = the whole object under the click, followed while it moves; a radius = a fixed
            region of a larger object (a tray slot, a mug-tree branch): the above-table points within
            this horizontal distance of the click, at every step.
    """

    name: str
    click_xy: tuple[float, float]
    radius_m: float | None = None

    def __post_init__(self) -> None:
        if self.radius_m is not None and not self.radius_m > 0:
            raise LabelError(f"{self.name}: a region radius must be > 0, got {self.radius_m}")


@dataclass
class EpisodeLabel:
    """The label of one episode: the instruction and the attended instances in attend() order."""

    episode: int
    instruction: str
    attended: list[AttendedLabel] = field(default_factory=list)
    date: str = ""

    def __post_init__(self) -> None:
        if not self.instruction.strip():
            raise LabelError(f"episode {self.episode}: the instruction is empty")
        if not self.attended:
            raise LabelError(f"episode {self.episode}: click at least one attended instance")


def object_components(points: np.ndarray, config: TrackConfig) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the above-table points of one step's (N, 3) cloud and their connected-component labels.

    Components link points closer than max(eps_m, 2.5 × median nearest-neighbour spacing) (DBSCAN with
    one sample per core: every point belongs to a component), so a sparsely sampled object may come in
    a few fragments; `track_instance` gathers them.
    """
    from scipy.spatial import cKDTree
    from sklearn.cluster import DBSCAN

    above = np.flatnonzero(points[:, 2] > config.table_z_m + config.min_height_m)
    if len(above) < 2:
        return above, np.zeros(len(above), np.int64)
    spacing, _ = cKDTree(points[above]).query(points[above], k=2)
    eps = max(config.eps_m, 2.5 * float(np.median(spacing[:, 1])))
    return above, DBSCAN(eps=eps, min_samples=1).fit_predict(points[above])


def _gather(
    points: np.ndarray, above: np.ndarray, labels: np.ndarray, anchor: int, centre: np.ndarray, radius: float
) -> np.ndarray:
    """Sorted indices of the anchor component and of every component wholly inside the ball, cut to the ball.

    A neighbouring object that reaches into the ball extends beyond it and stays out; fragments of a
    sparsely sampled instance lie inside it and join.
    """
    inside = np.linalg.norm(points[above] - centre, axis=1) <= radius
    whole = [label for label in np.unique(labels) if inside[labels == label].all()]
    keep = inside & (np.isin(labels, whole) | (labels == anchor))
    return np.sort(above[keep])


def track_instance(
    clouds: np.ndarray, click_xy: Sequence[float], config: TrackConfig, name: str = ""
) -> np.ndarray:
    """(S, N) bool: the points of the clicked instance at every step of an episode.

    Step 0: the component of the above-table point nearest the click (horizontally), joined by the
    fragments inside the ball of its size plus `track_margin_m`. Step t: the same gathering around the
    previous centroid, anchored on the point nearest to it; the ball's radius stays the step-0 one.

    Args:
        clouds: (S, N, 3) the episode's `data/point_cloud`.
        click_xy: world (x, y) of the click on step 0.
        config: clustering and tracking thresholds.
        name: the instance's name for error messages.

    Raises:
        LabelError: the click is farther than `max_click_distance_m` from every object at step 0, or the
            instance has no point left at some step (the message names the step).
    """
    clouds = np.asarray(clouds, dtype=np.float64)
    members = np.zeros(clouds.shape[:2], bool)
    above, labels = object_components(clouds[0], config)
    horizontal = np.linalg.norm(clouds[0, above, :2] - np.asarray(click_xy, dtype=np.float64), axis=1)
    if len(above) == 0 or horizontal.min() > config.max_click_distance_m:
        nearest = f"nearest {horizontal.min() * 100:.1f} cm" if len(above) else "no object point at all"
        raise LabelError(
            f"{name or 'click'} at ({click_xy[0]:.3f}, {click_xy[1]:.3f}): no object within "
            f"{config.max_click_distance_m * 100:.0f} cm at step 0 ({nearest})"
        )
    anchor = int(labels[np.argmin(horizontal)])
    seed = clouds[0, above[labels == anchor]]
    centre = seed.mean(axis=0)
    radius = float(np.linalg.norm(seed - centre, axis=1).max()) + config.track_margin_m
    for step in range(len(clouds)):
        if step > 0:
            above, labels = object_components(clouds[step], config)
            distance = np.linalg.norm(clouds[step, above] - centre, axis=1)
            if len(above) == 0 or distance.min() > radius:
                raise LabelError(
                    f"{name or 'instance'}: lost at step {step} (no object point within {radius * 100:.0f} cm "
                    f"of where it was at step {step - 1}); check the episode's clouds"
                )
            anchor = int(labels[np.argmin(distance)])
        indices = _gather(clouds[step], above, labels, anchor, centre, radius)
        members[step, indices] = True
        centre = clouds[step, indices].mean(axis=0)
        if step == 0:
            radius = float(np.linalg.norm(clouds[0, indices] - centre, axis=1).max()) + config.track_margin_m
    return members


def region_instance(
    clouds: np.ndarray, click_xy: Sequence[float], radius_m: float, config: TrackConfig, name: str = ""
) -> np.ndarray:
    """(S, N) bool: above-table points within `radius_m` (horizontal) of the click, at every step.

    Raises:
        LabelError: the region holds no above-table point at step 0 (a click beside the object).
    """
    clouds = np.asarray(clouds, dtype=np.float64)
    above = clouds[..., 2] > config.table_z_m + config.min_height_m
    near = np.linalg.norm(clouds[..., :2] - np.asarray(click_xy, dtype=np.float64), axis=-1) <= radius_m
    members = above & near
    if not members[0].any():
        raise LabelError(
            f"{name or 'region'} at ({click_xy[0]:.3f}, {click_xy[1]:.3f}): no object point within "
            f"{radius_m * 100:.1f} cm at step 0"
        )
    return members


def instance_members(clouds: np.ndarray, item: AttendedLabel, config: TrackConfig) -> np.ndarray:
    """(S, N) bool points of one labelled instance: a tracked object, or a fixed region when it has a radius."""
    if item.radius_m is None:
        return track_instance(clouds, item.click_xy, config, item.name)
    return region_instance(clouds, item.click_xy, item.radius_m, config, item.name)


def episode_attention(clouds: np.ndarray, label: EpisodeLabel, config: TrackConfig) -> np.ndarray:
    """(S, N) float32 ground-truth attention of the labelled instances, in [0, 1]."""
    from codediffuser_perception.attention import dilate

    clouds = np.asarray(clouds, dtype=np.float32)
    attention = np.zeros(clouds.shape[:2], np.float32)
    for item in label.attended:
        members = instance_members(clouds, item, config)
        for step in range(len(clouds)):
            grown = dilate(clouds[step], members[step], config.dilation_m)
            attention[step] = np.maximum(attention[step], grown.astype(np.float32))
    return attention


def labels_path(store: str | Path) -> Path:
    """Where the labels of a store live: `data/real.zarr` → `data/real.labels.json`."""
    store = Path(store)
    return store.with_name(store.name.removesuffix(".zarr") + ".labels.json")


def load_labels(store: str | Path) -> dict[int, EpisodeLabel]:
    """The labels saved for a store, by episode index ({} when none)."""
    path = labels_path(store)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if data.get("format") != LABELS_FORMAT:
        raise LabelError(f"{path}: format {data.get('format')!r}, expected {LABELS_FORMAT!r}")
    return {
        int(key): EpisodeLabel(
            episode=int(key),
            instruction=value["instruction"],
            attended=[
                AttendedLabel(a["name"], tuple(a["click_xy"]), a.get("radius_m")) for a in value["attended"]
            ],
            date=value.get("date", ""),
        )
        for key, value in data["episodes"].items()
    }


def _open_store(store: str | Path):
    import zarr

    from codediffuser_policy.dataset import FORMAT

    path = Path(store)
    if not (path / "zarr.json").is_file():
        raise LabelError(f"{path}: not a dataset store (record one with `codediffuser import-bag`)")
    root = zarr.open_group(str(path), mode="r+")
    if root.attrs.get("format") != FORMAT:
        raise LabelError(f"{path}: format {root.attrs.get('format')!r}, expected {FORMAT!r}")
    return root


def episode_rows(root, episode: int) -> slice:
    """Step rows of `episode` in a store opened with zarr."""
    ends = np.asarray(root["meta/episode_ends"][:], dtype=np.int64)
    if not 0 <= episode < len(ends):
        raise LabelError(
            f"episode {episode} does not exist: the store has {len(ends)} episodes (0..{len(ends) - 1})"
        )
    return slice(int(ends[episode - 1]) if episode else 0, int(ends[episode]))


def episode_clouds(store: str | Path, episode: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, N, 3) points and (S, N, 3) colours of one episode."""
    root = _open_store(store)
    rows = episode_rows(root, episode)
    return np.asarray(root["data/point_cloud"][rows]), np.asarray(root["data/colors"][rows])


def apply_label(store: str | Path, label: EpisodeLabel, config: TrackConfig | None = None) -> np.ndarray:
    """Compute the episode's attention, write it and the attributes into the store, save the label.

    Returns:
        The (S, N) attention written.

    Raises:
        LabelError: unknown episode, or a click/track failure (nothing is written then).
    """
    config = config or TrackConfig()
    root = _open_store(store)
    rows = episode_rows(root, label.episode)
    attention = episode_attention(np.asarray(root["data/point_cloud"][rows]), label, config)
    root["data/attention"][rows] = attention
    episodes = list(root["meta"].attrs["episodes"])
    episodes[label.episode] = {
        **episodes[label.episode],
        "instruction": label.instruction,
        "attended": [a.name for a in label.attended],
    }
    root["meta"].attrs["episodes"] = episodes
    label.date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = load_labels(store)
    labels[label.episode] = label
    payload = {
        "format": LABELS_FORMAT,
        "store": Path(store).name,
        "episodes": {
            str(i): {
                "instruction": lab.instruction,
                "attended": [asdict(a) for a in lab.attended],
                "date": lab.date,
            }
            for i, lab in sorted(labels.items())
        },
    }
    labels_path(store).write_text(json.dumps(payload, indent=2) + "\n")
    return attention


@dataclass(frozen=True)
class ReferenceBox:
    """A pixel box around one object in one camera view of an episode's step 0 (for reference features).

    Attributes:
        category: the detect() category it exemplifies ("battery").
        view: camera name within the episode's observation.
        box: inclusive pixel box (x0, y0, x1, y1), x0 <= x1, y0 <= y1.
    """

    category: str
    view: str
    box: tuple[int, int, int, int]

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = self.box
        if not self.category.strip() or any(c in self.category for c in "=, "):
            raise LabelError(
                f"a reference category needs a name without '=', ',' or spaces, got {self.category!r}"
            )
        if x0 > x1 or y0 > y1 or min(self.box) < 0:
            raise LabelError(f"reference box must be x0 <= x1, y0 <= y1, all >= 0, got {self.box}")

    @classmethod
    def from_corners(cls, category: str, view: str, a: Sequence[float], b: Sequence[float]) -> ReferenceBox:
        """The box spanned by two clicked corners (any order), rounded to whole pixels."""
        xs, ys = sorted((round(a[0]), round(b[0]))), sorted((round(a[1]), round(b[1])))
        return cls(category.strip(), view, (xs[0], ys[0], xs[1], ys[1]))


def annotate_commands(
    observation: str | Path, boxes: Sequence[ReferenceBox], out: str = "references"
) -> list[str]:
    """`codediffuser annotate` command lines storing reference features for `boxes` (one per view).

    The reference features come from the same step-0 views the episode was labelled on; the command
    needs the DINOv2 weights, so it runs where they are (the robot PC), not in the labelling page.
    """
    lines = []
    for view in dict.fromkeys(b.view for b in boxes):
        labels = " ".join(
            f"--label {b.category}=box:{','.join(str(v) for v in b.box)}" for b in boxes if b.view == view
        )
        lines.append(f"codediffuser annotate --observation {observation} --view {view} {labels} --out {out}")
    return lines


def parse_attend(text: str) -> AttendedLabel:
    """Parse one `--attend` value, NAME@X,Y or NAME@X,Y~RADIUS (world metres), into an `AttendedLabel`."""
    name, sep, place = text.rpartition("@")
    xy, _, radius = place.partition("~")
    try:
        x, y = (float(v) for v in xy.split(","))
        radius_m = float(radius) if radius else None
    except ValueError:
        sep = ""
    if not sep or not name.strip():
        raise LabelError(f"--attend takes NAME@X,Y or NAME@X,Y~RADIUS (world metres), got {text!r}")
    return AttendedLabel(name.strip(), (x, y), radius_m)


def build_parser() -> argparse.ArgumentParser:
    """Options of `codediffuser label`."""
    parser = argparse.ArgumentParser(
        prog="codediffuser label",
        description="Label episodes: instruction and attended instances → attention.",
    )
    parser.add_argument("store", type=Path, help="zarr dataset written by import-bag")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--list", action="store_true", help="list episodes and their labels")
    mode.add_argument("--episode", type=int, help="label this episode from the command line")
    mode.add_argument("--serve", action="store_true", help="labelling web page on 127.0.0.1")
    parser.add_argument("--instruction", help="the episode's instruction (with --episode)")
    parser.add_argument(
        "--attend",
        nargs="+",
        default=[],
        help="NAME@X,Y per attended object (NAME@X,Y~RADIUS: a fixed region such as a slot), attend() order",
    )
    parser.add_argument("--port", type=int, default=8765, help="port of --serve")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """List, label from the command line, or serve the labelling page; 2 on bad input."""
    args = build_parser().parse_args(argv)
    try:
        if args.list:
            root = _open_store(args.store)
            labels = load_labels(args.store)
            for i, episode in enumerate(root["meta"].attrs["episodes"]):
                rows = episode_rows(root, i)
                status = (
                    f"labelled: {labels[i].instruction!r} → {episode['attended']}"
                    if i in labels
                    else "unlabelled"
                )
                print(f"episode {i}: {episode['task']}, {rows.stop - rows.start} steps, {status}")
            return 0
        if args.serve:
            from codediffuser.label_ui import serve

            _open_store(args.store)
            serve(args.store, port=args.port)
            return 0
        label = EpisodeLabel(args.episode, args.instruction or "", [parse_attend(a) for a in args.attend])
        attention = apply_label(args.store, label)
    except (LabelError, PerceptionError) as error:
        print(f"codediffuser label: {error}", file=sys.stderr)
        return 2
    print(
        f"episode {label.episode}: {len(label.attended)} instances, mean attended fraction "
        f"{attention.mean():.3f}; labels in {labels_path(args.store)}"
    )
    return 0
