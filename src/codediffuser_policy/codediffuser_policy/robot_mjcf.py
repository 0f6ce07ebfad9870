"""Read one vx300s arm out of gym-aloha's bimanual ALOHA MJCF: the single source of the robot's geometry.

gym-aloha (Apache-2.0) ships the ViperX-300s meshes, link offsets, joint axes and limits as MJCF. MuJoCo
compiles that file; this module walks the compiled bodies under `vx300s_left` / `vx300s_right` and returns
plain dataclasses (link frames, joints, inertials, meshes) that the kinematics (FK/IK) and the URDF writer
share, so the simulator and the policy can never disagree on a number.

Frames: every transform is a (4, 4) float64 matrix in metres. A joint's `origin` is the child body frame in
its parent body frame at zero joint position (MuJoCo body pos/quat); its `axis` is in the child frame.
The arm base frame is the `vx300s_<side>` body frame (on the table surface, x towards the table centre).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

SIDES = ("left", "right")
ARM_JOINTS = ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")
"""The six arm joints in chain order, named as the interbotix ALOHA driver names them."""
FINGER_JOINTS = ("left_finger", "right_finger")
BASE_LINK = "base_link"
EE_LINK = "ee_link"
GRIPPER_LINK = "gripper_link"
TCP_INSET_M = 0.02
"""The tool centre point sits this far behind the fingertips, on the gripper's x axis (mid finger pad)."""


@dataclass(frozen=True)
class MeshGeom:
    """A mesh attached to a link: the STL file (millimetres) placed by `T_link_mesh` (metres)."""

    file: Path
    T_link_mesh: np.ndarray
    collides: bool


@dataclass(frozen=True)
class LinkSpec:
    """One rigid link with its inertial and meshes (frames relative to the link frame)."""

    name: str
    mass: float
    T_link_inertial: np.ndarray
    inertia_diag: np.ndarray
    meshes: tuple[MeshGeom, ...] = ()


@dataclass(frozen=True)
class JointSpec:
    """A joint between two links; `kind` is "revolute", "prismatic" or "fixed"."""

    name: str
    kind: str
    parent: str
    child: str
    origin: np.ndarray
    axis: np.ndarray
    lower: float
    upper: float


@dataclass(frozen=True)
class ArmSpec:
    """One arm as parsed from the MJCF: links, joints in tree order, and its base pose in the world."""

    side: str
    links: tuple[LinkSpec, ...]
    joints: tuple[JointSpec, ...]
    T_world_base: np.ndarray
    tcp_offset_m: float
    home_q: np.ndarray
    joint_by_name: dict[str, JointSpec] = field(default_factory=dict)


def aloha_mjcf_path() -> Path:
    """The bimanual ALOHA MJCF inside the installed gym-aloha package."""
    import gym_aloha

    path = Path(gym_aloha.__file__).parent / "assets" / "bimanual_viperx_transfer_cube.xml"
    if not path.is_file():
        raise FileNotFoundError(f"gym-aloha's MJCF is missing at {path}: reinstall gym-aloha")
    return path


def _quat_wxyz_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _pose(pos: np.ndarray, quat_wxyz: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = _quat_wxyz_to_matrix(quat_wxyz)
    T[:3, 3] = pos
    return T


@lru_cache(maxsize=1)
def _compiled_model():
    import mujoco

    return mujoco.MjModel.from_xml_path(str(aloha_mjcf_path()))


def _mesh_file(model, mesh_id: int) -> Path:
    start = int(model.mesh_pathadr[mesh_id])
    raw = bytes(model.paths[start:])
    path = aloha_mjcf_path().parent / raw.split(b"\x00", 1)[0].decode()
    if not path.is_file():
        raise FileNotFoundError(f"vx300s mesh {path} is missing from gym-aloha: reinstall gym-aloha")
    return path


def _mesh_geoms(model, body_id: int) -> tuple[MeshGeom, ...]:
    """Mesh geoms of a body, placed as the STL files expect.

    MuJoCo re-centres each mesh at compile time, so the STL's own frame is `geom_T · inv(mesh_T)` in the body frame.
    """
    import mujoco

    meshes = []
    for g in range(model.ngeom):
        if model.geom_bodyid[g] != body_id or model.geom_type[g] != mujoco.mjtGeom.mjGEOM_MESH:
            continue
        mesh_id = int(model.geom_dataid[g])
        T_body_geom = _pose(model.geom_pos[g], model.geom_quat[g])
        T_mesh_compiled = _pose(model.mesh_pos[mesh_id], model.mesh_quat[mesh_id])
        collides = bool(model.geom_contype[g] or model.geom_conaffinity[g])
        meshes.append(
            MeshGeom(_mesh_file(model, mesh_id), T_body_geom @ np.linalg.inv(T_mesh_compiled), collides)
        )
    return tuple(meshes)


def _fingertip_x(model, gripper_body: int, finger_body: int) -> float:
    """Largest x of the finger mesh in the gripper frame (fingers slide along y, so x is fixed)."""
    import mujoco

    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    R_g, p_g = data.xmat[gripper_body].reshape(3, 3), data.xpos[gripper_body]
    tip = -np.inf
    for g in range(model.ngeom):
        if model.geom_bodyid[g] != finger_body or model.geom_type[g] != mujoco.mjtGeom.mjGEOM_MESH:
            continue
        mesh_id = int(model.geom_dataid[g])
        start, count = model.mesh_vertadr[mesh_id], model.mesh_vertnum[mesh_id]
        verts = model.mesh_vert[start : start + count] @ data.geom_xmat[g].reshape(3, 3).T + data.geom_xpos[g]
        tip = max(tip, float(((verts - p_g) @ R_g)[:, 0].max()))
    return tip


def _world_from_mjcf(model) -> np.ndarray:
    """Project world frame: origin on the table surface midway between the two arm bases (docs/instructions.md)."""
    mid = 0.5 * (model.body("vx300s_left").pos + model.body("vx300s_right").pos)
    T = np.eye(4)
    T[:3, 3] = -mid
    return T


@lru_cache(maxsize=2)
def load_arm_spec(side: str) -> ArmSpec:
    """Parse one arm (`side` in {"left", "right"}) from gym-aloha's MJCF.

    Raises:
        ValueError: unknown side.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    import mujoco

    model = _compiled_model()
    prefix = f"vx300s_{side}"
    root = model.body(prefix).id

    def link_name(body_id: int) -> str:
        return BASE_LINK if body_id == root else model.body(body_id).name.removeprefix(prefix + "/")

    links: list[LinkSpec] = []
    joints: list[JointSpec] = []
    for b in range(root, model.nbody):
        if b != root and not _is_descendant(model, b, root):
            continue
        meshes = _mesh_geoms(model, b)
        if b != root and model.body_mass[b] == 0 and not meshes:
            continue  # camera-focus marker bodies carry nothing physical
        links.append(
            LinkSpec(
                name=link_name(b),
                mass=float(model.body_mass[b]),
                T_link_inertial=_pose(model.body_ipos[b], model.body_iquat[b]),
                inertia_diag=np.array(model.body_inertia[b], dtype=np.float64),
                meshes=meshes,
            )
        )
        if b == root:
            continue
        origin = _pose(model.body_pos[b], model.body_quat[b])
        parent = link_name(int(model.body_parentid[b]))
        if model.body_jntnum[b] == 0:
            joints.append(
                JointSpec(link_name(b) + "_fixed", "fixed", parent, link_name(b), origin, np.zeros(3), 0, 0)
            )
            continue
        j = int(model.body_jntadr[b])
        kind = {mujoco.mjtJoint.mjJNT_HINGE: "revolute", mujoco.mjtJoint.mjJNT_SLIDE: "prismatic"}[
            model.jnt_type[j]
        ]
        lower, upper = (float(v) for v in model.jnt_range[j])
        name = model.joint(j).name.removeprefix(prefix + "/")
        joints.append(
            JointSpec(name, kind, parent, link_name(b), origin, np.array(model.jnt_axis[j]), lower, upper)
        )

    gripper = model.body(f"{prefix}/{GRIPPER_LINK}").id
    tcp = _fingertip_x(model, gripper, model.body(f"{prefix}/left_finger_link").id) - TCP_INSET_M
    T_gripper_ee = np.eye(4)
    T_gripper_ee[0, 3] = tcp
    links.append(LinkSpec(EE_LINK, 0.0, np.eye(4), np.zeros(3)))
    joints.append(
        JointSpec(EE_LINK + "_fixed", "fixed", GRIPPER_LINK, EE_LINK, T_gripper_ee, np.zeros(3), 0, 0)
    )

    T_world_base = _world_from_mjcf(model) @ _pose(model.body_pos[root], model.body_quat[root])
    # The MJCF's first keyframe is gym-aloha's start pose: gripper raised in front of the base.
    home_q = np.array(
        [model.key_qpos[0][model.jnt_qposadr[model.joint(f"{prefix}/{name}").id]] for name in ARM_JOINTS]
    )
    return ArmSpec(
        side=side,
        links=tuple(links),
        joints=tuple(joints),
        T_world_base=T_world_base,
        tcp_offset_m=tcp,
        home_q=home_q,
        joint_by_name={jt.name: jt for jt in joints},
    )


def _is_descendant(model, body: int, ancestor: int) -> bool:
    while body != 0:
        if body == ancestor:
            return True
        body = int(model.body_parentid[body])
    return False
