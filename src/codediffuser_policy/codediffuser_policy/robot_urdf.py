"""Write one arm's URDF from the parsed MJCF (`robot_mjcf.ArmSpec`), generated on first use into a cache.

The URDF is a build product, never committed: it is regenerated whenever gym-aloha's MJCF or this writer
changes (the file name carries a hash of both), so SAPIEN and any URDF consumer see exactly the geometry the
kinematics computes with. Meshes are referenced by absolute path inside the installed gym-aloha package.
Cache folder: `$CODEDIFFUSER_CACHE`, else `~/.cache/codediffuser`.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from codediffuser_policy.robot_mjcf import ArmSpec, aloha_mjcf_path

MESH_SCALE = "0.001 0.001 0.001"
"""gym-aloha's STL files are in millimetres."""


def cache_dir() -> Path:
    """Where generated robot files go: `$CODEDIFFUSER_CACHE` or `~/.cache/codediffuser`."""
    root = os.environ.get("CODEDIFFUSER_CACHE") or Path.home() / ".cache" / "codediffuser"
    return Path(root)


def _origin(parent: ET.Element, T: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock: any valid rpy of the matrix will do
        rpy = Rotation.from_matrix(T[:3, :3]).as_euler("xyz")
    ET.SubElement(
        parent,
        "origin",
        xyz=" ".join(f"{v:.9g}" for v in T[:3, 3]),
        rpy=" ".join(f"{v:.9g}" for v in rpy),
    )


def urdf_text(spec: ArmSpec) -> str:
    """The URDF document of one arm (robot name `vx300s_<side>`, root link `base_link`)."""
    robot = ET.Element("robot", name=f"vx300s_{spec.side}")
    for link in spec.links:
        el = ET.SubElement(robot, "link", name=link.name)
        inertial = ET.SubElement(el, "inertial")
        _origin(inertial, link.T_link_inertial)
        # A massless link (the TCP frame, the fixed base) still needs a positive inertia for the physics engine.
        mass = max(link.mass, 1e-4)
        ixx, iyy, izz = np.maximum(link.inertia_diag, 1e-8)
        ET.SubElement(inertial, "mass", value=f"{mass:.9g}")
        ET.SubElement(
            inertial,
            "inertia",
            ixx=f"{ixx:.9g}",
            iyy=f"{iyy:.9g}",
            izz=f"{izz:.9g}",
            ixy="0",
            ixz="0",
            iyz="0",
        )
        for mesh in link.meshes:
            for tag in ("visual", "collision") if mesh.collides else ("visual",):
                geom_el = ET.SubElement(el, tag)
                _origin(geom_el, mesh.T_link_mesh)
                geometry = ET.SubElement(geom_el, "geometry")
                ET.SubElement(geometry, "mesh", filename=str(mesh.file), scale=MESH_SCALE)
    for joint in spec.joints:
        el = ET.SubElement(robot, "joint", name=joint.name, type=joint.kind)
        ET.SubElement(el, "parent", link=joint.parent)
        ET.SubElement(el, "child", link=joint.child)
        _origin(el, joint.origin)
        if joint.kind != "fixed":
            ET.SubElement(el, "axis", xyz=" ".join(f"{v:.9g}" for v in joint.axis))
            ET.SubElement(
                el,
                "limit",
                lower=f"{joint.lower:.9g}",
                upper=f"{joint.upper:.9g}",
                effort="1000",
                velocity="10",
            )
    ET.indent(robot)
    return ET.tostring(robot, encoding="unicode")


def write_arm_urdf(spec: ArmSpec) -> Path:
    """Write (once) and return the cached URDF path of this arm."""
    text = urdf_text(spec)
    digest = hashlib.sha256((text + str(aloha_mjcf_path())).encode()).hexdigest()[:12]
    path = cache_dir() / "urdf" / f"vx300s_{spec.side}_{digest}.urdf"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path
