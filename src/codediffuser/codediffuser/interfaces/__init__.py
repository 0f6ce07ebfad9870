"""The project's ROS interfaces as a rosbags typestore: real message layouts, no ROS installation needed.

Why: the nodes, the ROS-free test harness (`codediffuser.testing`) and the bag tools (`replay`,
`import-bag`) must agree with the real .msg/.srv definitions byte for byte. The store starts from
rosbags' ROS 2 Humble store (std_msgs, sensor_msgs, geometry_msgs, builtin_interfaces, rcl_interfaces,
tf2_msgs, ...) and adds

- the project's own `codediffuser_msgs`, parsed from `$CODEDIFFUSER_MSGS_DIR`, else the repository's
  `src/codediffuser_msgs`, else `share/codediffuser_msgs` under a prefix of `$AMENT_PREFIX_PATH`;
- vendored copies of the `interbotix_xs_msgs` and `std_srvs` definitions the nodes use (rosbags ships
  neither), stored beside this file as `<package>/msg/*.msg` and `<package>/srv/*.srv`.

A service `pkg/srv/Name` is registered as the two message types `pkg/srv/Name_Request` and
`pkg/srv/Name_Response`, the names rosidl gives the halves.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_types_from_msg
from rosbags.typesys import get_typestore as _rosbags_typestore
from rosbags.typesys.store import Typestore

__all__ = [
    "MSGS_DIR_ENV",
    "PROJECT_PACKAGE",
    "InterfaceError",
    "find_msgs_dir",
    "get_typestore",
    "parse_package",
    "service_types",
]

PROJECT_PACKAGE = "codediffuser_msgs"
MSGS_DIR_ENV = "CODEDIFFUSER_MSGS_DIR"
VENDORED_DIR = Path(__file__).resolve().parent

# A rosbags type dictionary: typename -> (constants, fields).
Typesdict = dict[str, tuple[list, list]]


class InterfaceError(ValueError):
    """A message/service definition is missing or malformed; the message names the file."""


def find_msgs_dir() -> Path:
    """Locate the `codediffuser_msgs` package folder (the one holding `msg/` and `srv/`).

    Order: `$CODEDIFFUSER_MSGS_DIR`, the source tree next to this package (`src/codediffuser_msgs`), then
    `<prefix>/share/codediffuser_msgs` for each prefix of `$AMENT_PREFIX_PATH` (a built ROS workspace).
    """
    candidates: list[Path] = []
    if env := os.environ.get(MSGS_DIR_ENV):
        candidates.append(Path(env))
    candidates.append(VENDORED_DIR.parents[2] / PROJECT_PACKAGE)
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidates.append(Path(prefix) / "share" / PROJECT_PACKAGE)
    for path in candidates:
        if (path / "msg").is_dir():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise InterfaceError(
        f"cannot find the {PROJECT_PACKAGE} definitions (tried {tried}); set ${MSGS_DIR_ENV} to the folder "
        "holding msg/ and srv/"
    )


def _fix_srv_refs(desc: tuple, package: str) -> tuple:
    """Point a field's type reference parsed inside `pkg/srv/msg/...` back at `pkg/msg/...`."""
    kind, detail = desc
    if kind == Nodetype.NAME and detail.startswith(f"{package}/srv/msg/"):
        return (kind, f"{package}/msg/{detail.rsplit('/', 1)[1]}")
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        return (kind, (_fix_srv_refs(detail[0], package), detail[1]))
    return desc


def _parse_srv(path: Path, package: str) -> Typesdict:
    """Parse one .srv file into its `_Request` and `_Response` message types."""
    lines = path.read_text().splitlines()
    separators = [i for i, line in enumerate(lines) if line.strip() == "---"]
    if len(separators) != 1:
        raise InterfaceError(f"{path}: a .srv needs exactly one '---' line, found {len(separators)}")
    cut = separators[0]
    halves = {"Request": "\n".join(lines[:cut]), "Response": "\n".join(lines[cut + 1 :])}
    types: Typesdict = {}
    for half, text in halves.items():
        name = f"{package}/srv/{path.stem}_{half}"
        # rosbags normalises `pkg/srv/X_Request` to `pkg/srv/msg/X_Request`: re-key it and its references.
        for consts, fields in get_types_from_msg(text + "\n", name).values():
            types[name] = (consts, [(fname, _fix_srv_refs(desc, package)) for fname, desc in fields])
    return types


def parse_package(root: Path, package: str) -> Typesdict:
    """Parse every `msg/*.msg` and `srv/*.srv` below `root` as types of `package`."""
    types: Typesdict = {}
    for path in sorted((root / "msg").glob("*.msg")):
        try:
            types.update(get_types_from_msg(path.read_text(), f"{package}/msg/{path.stem}"))
        except Exception as exc:  # rosbags raises its own parser errors; name the file
            raise InterfaceError(f"{path}: {exc}") from exc
    for path in sorted((root / "srv").glob("*.srv")):
        try:
            types.update(_parse_srv(path, package))
        except InterfaceError:
            raise
        except Exception as exc:
            raise InterfaceError(f"{path}: {exc}") from exc
    if not types:
        raise InterfaceError(f"{root}: no msg/*.msg or srv/*.srv definitions for {package}")
    return types


@functools.cache
def get_typestore(msgs_dir: Path | None = None) -> Typestore:
    """Return the (cached) Humble typestore with the project's, interbotix and std_srvs types added.

    Args:
        msgs_dir: the `codediffuser_msgs` folder; default: `find_msgs_dir()`.

    Raises:
        InterfaceError: a definition is missing, malformed or refers to an unknown type.
    """
    store = _rosbags_typestore(Stores.ROS2_HUMBLE)
    types: Typesdict = {}
    for package_dir in sorted(p for p in VENDORED_DIR.iterdir() if p.is_dir() and p.name != "__pycache__"):
        types.update(parse_package(package_dir, package_dir.name))
    types.update(parse_package(msgs_dir or find_msgs_dir(), PROJECT_PACKAGE))
    store.register(types)
    for name in types:
        try:
            store.get_msgdef(name)  # resolves every nested reference now, not at the first publish
        except KeyError as exc:
            raise InterfaceError(f"{name} refers to the unknown type {exc}") from exc
    return store


def service_types(store: Typestore) -> list[str]:
    """Names `pkg/srv/Name` of the services whose request and response are both registered in `store`."""
    return sorted(
        name.removesuffix("_Request")
        for name in store.fielddefs
        if name.endswith("_Request") and name.removesuffix("_Request") + "_Response" in store.fielddefs
    )
