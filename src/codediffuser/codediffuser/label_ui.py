"""The labelling web page of `codediffuser label --serve`: plain HTML forms, no JavaScript, 127.0.0.1 only.

The page shows a top-down picture of an episode's first cloud (world x to the right, y up, the
operator at the bottom, as in docs/instructions.md). Clicking it submits the pixel (an HTML
`<input type="image">`), which `pixel_to_world` turns into a world (x, y) click for `label.track_instance`;
the picture then outlines the selected object with its attend() number. "Save" applies the label with
`label.apply_label` (attention into the store, labels beside it). All logic lives in `label`; this
module only renders and parses forms.

When `import-bag` saved the episode's step-0 views, the page also shows the camera images: two clicks
draw a box around an object for a category, and the page prints the `codediffuser annotate` commands
that store its reference features (the DINOv2 features `detect` matches on the robot).
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import cv2
import numpy as np

from codediffuser.import_bag import observations_dir
from codediffuser.label import (
    AttendedLabel,
    EpisodeLabel,
    LabelError,
    ReferenceBox,
    TrackConfig,
    annotate_commands,
    apply_label,
    episode_clouds,
    instance_members,
    load_labels,
)

METRES_PER_PIXEL = 0.002
HIGHLIGHT_RGB = (255, 0, 255)


@dataclass(frozen=True)
class TopView:
    """Orthographic top-down picture geometry over the workspace box (world x → u, world y → −v)."""

    x_min: float
    y_max: float
    width: int
    height: int
    metres_per_pixel: float = METRES_PER_PIXEL

    @classmethod
    def over(cls, workspace_min, workspace_max, metres_per_pixel: float = METRES_PER_PIXEL) -> TopView:
        width = round((workspace_max[0] - workspace_min[0]) / metres_per_pixel)
        height = round((workspace_max[1] - workspace_min[1]) / metres_per_pixel)
        return cls(float(workspace_min[0]), float(workspace_max[1]), width, height, metres_per_pixel)

    def world_to_pixel(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) world (x, y) → (N, 2) int pixel (u, v)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        u = (xy[:, 0] - self.x_min) / self.metres_per_pixel
        v = (self.y_max - xy[:, 1]) / self.metres_per_pixel
        return np.floor(np.stack([u, v], axis=1)).astype(np.int64)

    def pixel_to_world(self, u: float, v: float) -> tuple[float, float]:
        """Pixel (u, v) → world (x, y) of its centre."""
        return self.x_min + (u + 0.5) * self.metres_per_pixel, self.y_max - (v + 0.5) * self.metres_per_pixel


def render_top_view(
    view: TopView, points: np.ndarray, colors: np.ndarray, selected: list[np.ndarray] | None = None
) -> np.ndarray:
    """(H, W, 3) uint8 RGB: points drawn lowest first, selected instances in magenta with their number."""
    image = np.full((view.height, view.width, 3), 40, np.uint8)
    order = np.argsort(points[:, 2])
    pixels = view.world_to_pixel(points[order, :2])
    for (u, v), rgb in zip(pixels, colors[order], strict=True):
        cv2.circle(image, (int(u), int(v)), 3, tuple(int(c) for c in rgb), -1)
    for number, members in enumerate(selected or [], start=1):
        member_pixels = view.world_to_pixel(points[members, :2])
        for u, v in member_pixels:
            cv2.circle(image, (int(u), int(v)), 4, HIGHLIGHT_RGB, 1)
        u, v = member_pixels.mean(axis=0).astype(int)
        cv2.putText(
            image, str(number), (int(u) + 8, int(v) - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.7, HIGHLIGHT_RGB, 2
        )
    return image


def render_view(rgb: np.ndarray, boxes: list[ReferenceBox], corner: tuple[float, float] | None) -> np.ndarray:
    """(H, W, 3) RGB camera image with the reference boxes (green, with their category) and a pending corner."""
    image = np.ascontiguousarray(rgb).copy()
    for box in boxes:
        x0, y0, x1, y1 = box.box
        cv2.rectangle(image, (x0, y0), (x1, y1), (0, 255, 0), 2)
        cv2.putText(image, box.category, (x0, max(y0 - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1)
    if corner is not None:
        cv2.circle(image, (round(corner[0]), round(corner[1])), 4, (255, 0, 0), -1)
    return image


@dataclass
class _Draft:
    instruction: str = ""
    attended: list[AttendedLabel] = field(default_factory=list)
    boxes: list[ReferenceBox] = field(default_factory=list)
    corner: tuple[str, float, float] | None = None  # first corner of a box being drawn: view, u, v
    message: str = ""


class LabelSession:
    """State of one labelling server: the store, the top-view geometry and unsaved drafts per episode."""

    def __init__(self, store: str | Path, config: TrackConfig | None = None) -> None:
        import zarr

        self.store = Path(store)
        self.config = config or TrackConfig()
        root = zarr.open_group(str(self.store), mode="r")
        self.view = TopView.over(root.attrs["workspace_min"], root.attrs["workspace_max"])
        self.episodes = list(root["meta"].attrs["episodes"])
        self.drafts: dict[int, _Draft] = {}
        self._views: dict[int, list] = {}
        self.lock = threading.Lock()

    def observation(self, episode: int) -> Path:
        """The episode's step-0 views written by `codediffuser import-bag`."""
        return observations_dir(self.store) / f"episode_{episode:04d}.npz"

    def views(self, episode: int) -> list:
        """The episode's step-0 camera views ([] when the store has no observations)."""
        from codediffuser_perception.observation import load_views

        if episode not in self._views:
            path = self.observation(episode)
            self._views[episode] = load_views(path) if path.is_file() else []
        return self._views[episode]

    def view_picture(self, episode: int, name: str) -> bytes:
        """PNG of one step-0 camera image with the draft's reference boxes on it."""
        views = {v.name: v for v in self.views(episode)}
        if name not in views:
            raise LabelError(f"episode {episode} has no camera view {name!r} (has {sorted(views)})")
        draft = self.draft(episode)
        corner = draft.corner[1:] if draft.corner and draft.corner[0] == name else None
        image = render_view(views[name].rgb, [b for b in draft.boxes if b.view == name], corner)
        return cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()

    def draft(self, episode: int) -> _Draft:
        if not 0 <= episode < len(self.episodes):
            raise LabelError(f"episode {episode} does not exist (0..{len(self.episodes) - 1})")
        if episode not in self.drafts:
            saved = load_labels(self.store).get(episode)
            self.drafts[episode] = (
                _Draft(saved.instruction, list(saved.attended))
                if saved
                else _Draft(self.episodes[episode]["instruction"])
            )
        return self.drafts[episode]

    def picture(self, episode: int) -> bytes:
        """PNG of step 0 with the draft's instances outlined."""
        points, colors = episode_clouds(self.store, episode)
        selected = [
            np.flatnonzero(instance_members(points[:1], a, self.config)[0])
            for a in self.draft(episode).attended
        ]
        image = render_top_view(self.view, points[0], colors[0], selected)
        return cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()

    def submit(self, episode: int, form: dict[str, str]) -> None:
        """Apply one form submission: a click on the picture, "clear" or "save"."""
        draft = self.draft(episode)
        draft.instruction = form.get("instruction", draft.instruction)
        draft.message = ""
        try:
            view_clicks = [k[5:-2] for k in form if k.startswith("view_") and k.endswith(".x")]
            if view_clicks:
                view = view_clicks[0]
                uv = (float(form[f"view_{view}.x"]), float(form[f"view_{view}.y"]))
                if draft.corner is not None and draft.corner[0] == view:
                    category = form.get("ref_category", "")
                    draft.boxes.append(ReferenceBox.from_corners(category, view, draft.corner[1:], uv))
                    draft.corner = None
                else:
                    draft.corner = (view, *uv)
            elif "click.x" in form:
                name = form.get("name", "").strip() or f"instance {len(draft.attended) + 1}"
                xy = self.view.pixel_to_world(float(form["click.x"]), float(form["click.y"]))
                radius = form.get("radius_m", "").strip()
                try:
                    radius_m = float(radius) if radius else None
                except ValueError as error:
                    raise LabelError(f"region radius must be a number in metres, got {radius!r}") from error
                item = AttendedLabel(name, xy, radius_m)
                points, _ = episode_clouds(self.store, episode)
                instance_members(points[:1], item, self.config)  # refuse a click on no object now
                draft.attended.append(item)
            elif form.get("action") == "clear":
                draft.attended.clear()
            elif form.get("action") == "clear_boxes":
                draft.boxes.clear()
                draft.corner = None
            elif form.get("action") == "save":
                attention = apply_label(
                    self.store, EpisodeLabel(episode, draft.instruction, list(draft.attended))
                )
                draft.message = f"saved: attention on {attention.mean() * 100:.1f} % of the points"
        except LabelError as error:
            draft.message = f"error: {error}"

    def page(self, episode: int) -> str:
        draft = self.draft(episode)
        items = "".join(
            f"<li>{html.escape(a.name)} at ({a.click_xy[0]:.3f}, {a.click_xy[1]:.3f})"
            f"{'' if a.radius_m is None else f', radius {a.radius_m:g} m'}</li>"
            for a in draft.attended
        )
        return f"""<!doctype html><html><head><meta charset="utf-8"><title>episode {episode}</title></head><body>
<p><a href="/">all episodes</a> · episode {episode} ({html.escape(self.episodes[episode]["task"])})</p>
<p><b>{html.escape(draft.message)}</b></p>
<form method="post" action="/episode/{episode}">
<p>instruction <input name="instruction" size="70" value="{html.escape(draft.instruction)}"></p>
<p>next instance's name <input name="name" size="30">, region radius in m <input name="radius_m" size="5">
(empty: the whole object, followed as it moves; e.g. 0.03 for one slot of a tray), then click it
(attend() order):</p>
<input type="image" name="click" src="/episode/{episode}/top.png" alt="top view of step 0">
<ol>{items}</ol>
<button name="action" value="clear">clear clicks</button> <button name="action" value="save">save label</button>
{self._reference_section(episode)}
</form></body></html>"""

    def _reference_section(self, episode: int) -> str:
        """Optional: boxes on the step-0 camera images → the `codediffuser annotate` commands to run."""
        views = self.views(episode)
        if not views:
            return ""
        draft = self.draft(episode)
        images = "".join(
            f'<p>{html.escape(v.name)}<br><input type="image" name="view_{html.escape(v.name)}" '
            f'src="/episode/{episode}/view/{html.escape(v.name)}.png" alt="{html.escape(v.name)}"></p>'
            for v in views
        )
        commands = "\n".join(annotate_commands(self.observation(episode), draft.boxes))
        return f"""<h2>reference features (optional)</h2>
<p>category <input name="ref_category" size="20"> then click two opposite corners of one object in a camera image.
<button name="action" value="clear_boxes">clear boxes</button></p>
{images}<p>run on the robot PC (needs the DINOv2 weights):</p><pre>{html.escape(commands)}</pre>"""

    def index(self) -> str:
        labels = load_labels(self.store)
        rows = "".join(
            f'<li><a href="/episode/{i}">episode {i}</a> {html.escape(e["task"])}: '
            f"{html.escape(repr(labels[i].instruction)) if i in labels else 'unlabelled'}</li>"
            for i, e in enumerate(self.episodes)
        )
        return (
            f"<!doctype html><html><body><h1>{html.escape(self.store.name)}</h1><ul>{rows}</ul></body></html>"
        )


def make_server(
    store: str | Path, port: int = 8765, config: TrackConfig | None = None
) -> ThreadingHTTPServer:
    """A server bound to 127.0.0.1:`port` (0 = any free port) serving the labelling pages of `store`."""
    session = LabelSession(store, config)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _episode(self) -> tuple[int, str] | None:
            parts = self.path.strip("/").split("/")
            if len(parts) >= 2 and parts[0] == "episode" and parts[1].isdigit():
                return int(parts[1]), "/".join(parts[2:])
            return None

        def do_GET(self) -> None:
            target = self._episode()
            try:
                with session.lock:
                    if self.path == "/":
                        self._send(HTTPStatus.OK, session.index().encode(), "text/html; charset=utf-8")
                    elif target and target[1] == "top.png":
                        self._send(HTTPStatus.OK, session.picture(target[0]), "image/png")
                    elif target and target[1].startswith("view/") and target[1].endswith(".png"):
                        name = target[1].removeprefix("view/").removesuffix(".png")
                        self._send(HTTPStatus.OK, session.view_picture(target[0], name), "image/png")
                    elif target and not target[1]:
                        self._send(
                            HTTPStatus.OK, session.page(target[0]).encode(), "text/html; charset=utf-8"
                        )
                    else:
                        self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
            except LabelError as error:
                self._send(HTTPStatus.NOT_FOUND, str(error).encode(), "text/plain; charset=utf-8")

        def do_POST(self) -> None:
            target = self._episode()
            if not target or target[1]:
                self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
                return
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            try:
                with session.lock:
                    session.submit(target[0], form)
            except LabelError as error:
                self._send(HTTPStatus.NOT_FOUND, str(error).encode(), "text/plain; charset=utf-8")
                return
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Location", f"/episode/{target[0]}")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the terminal shows only what `serve` prints."""

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def serve(store: str | Path, port: int = 8765) -> None:
    """Serve the labelling page until Ctrl-C."""
    server = make_server(store, port)
    print(f"labelling {store} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
