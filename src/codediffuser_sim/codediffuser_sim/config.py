"""Read config/sim.yaml into the simulator's dataclasses (`SimConfig`, `RecordConfig`): one schema.

Keys are the dataclass fields; an unknown key is an error that names it (a typo must not be ignored).
Relative paths resolve against the YAML file's folder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codediffuser_sim.env import SimConfig, SimError
from codediffuser_sim.record import RecordConfig


def _fields(cls: type, section: Mapping[str, Any], where: str) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(section) - names)
    if unknown:
        raise SimError(f"{where}: unknown keys {unknown}; expected some of {sorted(names)}")
    return dict(section)


def load_sim_config(path: str | Path) -> tuple[SimConfig, RecordConfig]:
    """Parse a sim YAML (sections `sim:` and `record:`, both optional).

    Raises:
        SimError: the file is not a mapping or has unknown keys; the dataclasses' own errors for bad values.
    """
    import yaml

    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, Mapping) or not set(data) <= {"sim", "record"}:
        raise SimError(f"{path}: expected a mapping with sections 'sim' and/or 'record'")
    sim = _fields(SimConfig, data.get("sim") or {}, f"{path} [sim]")
    if sim.get("camera_config") is not None:
        camera = Path(sim["camera_config"])
        sim["camera_config"] = camera if camera.is_absolute() else path.parent / camera
    record = _fields(RecordConfig, data.get("record") or {}, f"{path} [record]")
    for key in ("workspace_min", "workspace_max"):
        if key in record:
            record[key] = tuple(float(v) for v in record[key])
    return SimConfig(**sim), RecordConfig(**record)
