"""The two simulated vx300s arms: URDFs from `codediffuser_policy.kinematics`, position drives, gravity compensation.

Joint commands follow the interbotix ALOHA convention (DESIGN.md §6): per arm six joint angles in rad
(waist … wrist_rotate) and a normalised gripper [0 closed, 1 open] that `convert_gripper` maps onto the two
prismatic fingers (left finger +q, right finger −q). Joints are looked up by name, never by index (SAPIEN
orders the fingers differently from the MJCF).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sapien

from codediffuser_policy.kinematics import ArmModel, arm_urdf_path, convert_gripper, load_arm_model

ARM_STIFFNESS = 2000.0
"""Drive stiffness of the arm joints (N·m/rad): the MJCF position gains do not carry over to PhysX."""
ARM_DAMPING = 100.0
FINGER_STIFFNESS = 2000.0
"""Finger drive stiffness (N/m); with `FINGER_FORCE_LIMIT_N` it sets the grasp force."""
FINGER_DAMPING = 100.0
FINGER_FORCE_LIMIT_N = 40.0
ROBOT_COLLISION_GROUP_BIT = 1 << 0
"""Bit in the collision group mask shared by all robot links: disables self-collision within an arm."""


@dataclass
class SimArm:
    """One articulated arm in a SAPIEN scene.

    Attributes:
        model: the kinematic model (limits, FK/IK) the arm was built from.
        articulation: the SAPIEN articulation.
    """

    model: ArmModel
    articulation: sapien.physx.PhysxArticulation

    def __post_init__(self) -> None:
        by_name = {j.name: j for j in self.articulation.active_joints}
        self._arm_joints = [by_name[n] for n in self.model.joint_names]
        self._fingers = (by_name["left_finger"], by_name["right_finger"])
        names = [j.name for j in self.articulation.active_joints]
        self._arm_index = np.array([names.index(n) for n in self.model.joint_names])
        self._finger_index = np.array([names.index("left_finger"), names.index("right_finger")])
        for joint in self._arm_joints:
            joint.set_drive_properties(ARM_STIFFNESS, ARM_DAMPING, force_limit=1e4, mode="force")
        for joint in self._fingers:
            joint.set_drive_properties(
                FINGER_STIFFNESS, FINGER_DAMPING, force_limit=FINGER_FORCE_LIMIT_N, mode="force"
            )

    def full_qpos(self, q_arm: np.ndarray, gripper: float) -> np.ndarray:
        """The articulation's qpos vector for six arm angles and a normalised gripper."""
        qpos = np.zeros(self.articulation.dof, dtype=np.float32)
        qpos[self._arm_index] = q_arm
        finger = float(convert_gripper(gripper, "normalized", "finger_m"))
        qpos[self._finger_index] = (finger, -finger)
        return qpos

    def reset(self, q_arm: np.ndarray, gripper: float) -> None:
        """Teleport to a configuration at rest, with drive targets on it."""
        qpos = self.full_qpos(q_arm, gripper)
        self.articulation.set_qpos(qpos)
        self.articulation.set_qvel(np.zeros_like(qpos))
        self.set_targets(q_arm, gripper)

    def set_targets(self, q_arm: np.ndarray, gripper: float, qvel_arm: np.ndarray | None = None) -> None:
        """Set position (and optional velocity) drive targets of the six joints and the normalised gripper."""
        self.set_drive_targets(q_arm, float(convert_gripper(gripper, "normalized", "finger_m")), qvel_arm)

    def set_drive_targets(
        self, q_arm: np.ndarray, finger_m: float, qvel_arm: np.ndarray | None = None
    ) -> None:
        """Low-level `set_targets` with the left finger position in metres (the physics inner loop)."""
        for i, joint in enumerate(self._arm_joints):
            joint.set_drive_target(float(q_arm[i]))
            joint.set_drive_velocity_target(0.0 if qvel_arm is None else float(qvel_arm[i]))
        self._fingers[0].set_drive_target(finger_m)
        self._fingers[1].set_drive_target(-finger_m)

    def compensate_gravity(self) -> None:
        """Apply the passive forces (gravity, Coriolis) as joint forces; call before every physics step."""
        self.articulation.set_qf(
            self.articulation.compute_passive_force(gravity=True, coriolis_and_centrifugal=True)
        )

    @property
    def q_arm(self) -> np.ndarray:
        """(6,) measured arm joint angles, rad."""
        return self.articulation.get_qpos()[self._arm_index].astype(np.float64)

    @property
    def gripper(self) -> float:
        """Measured normalised gripper opening from the left finger (0 closed, 1 open)."""
        return float(
            convert_gripper(self.articulation.get_qpos()[self._finger_index[0]], "finger_m", "normalized")
        )

    @property
    def links(self) -> list:
        return self.articulation.links


def load_arm(scene: sapien.Scene, side: str) -> SimArm:
    """Load one arm's generated URDF into `scene`, fixed at its base pose, self-collision disabled."""
    model = load_arm_model(side)
    loader = scene.create_urdf_loader()
    loader.fix_root_link = True
    path = arm_urdf_path(side)
    articulation = loader.load(str(path))
    if articulation is None:
        raise RuntimeError(f"SAPIEN could not load the {side} arm URDF {path}")
    articulation.set_name(f"vx300s_{side}")
    articulation.set_root_pose(sapien.Pose(model.base_pose))
    for link in articulation.links:
        for shape in link.collision_shapes:
            groups = shape.get_collision_groups()
            groups[2] |= ROBOT_COLLISION_GROUP_BIT
            shape.set_collision_groups(groups)
    return SimArm(model, articulation)
