"""real.launch.py and sim.launch.py run through the launch stand-in: node set, parameters, TF, drivers."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from codediffuser.calibration_config import CalibrationError, dump_cameras_config, load_cameras_config
from codediffuser.testing import fake_ros
from codediffuser.testing.launch_runner import EXTERNAL_SHARE, LaunchError, run_launch
from codediffuser_perception.ros_params import config_from_params, load_node_params

ROOT = Path(__file__).resolve().parents[3]
NODES_YAML = ROOT / "config" / "nodes.yaml"
OUR_NODES = {
    "fusion_node": "codediffuser_perception",
    "codegen_node": "codediffuser_codegen",
    "policy_node": "codediffuser_policy",
}


NODE_CONFIGS = {
    "fusion_node": ("codediffuser_perception.node", "FusionNodeConfig"),
    "sim_bridge_node": ("codediffuser_sim.bridge_node", "SimBridgeConfig"),
    "codegen_node": ("codediffuser_codegen.node", "CodegenNodeConfig"),
    "policy_node": ("codediffuser_policy.node", "PolicyNodeConfig"),
}
"""Node name → (module, configuration dataclass)."""


def _node_config(node: str):
    """The configuration dataclass of `node`, or None when its module has not landed."""
    import importlib

    module, cls = NODE_CONFIGS[node]
    with fake_ros():
        try:
            return getattr(importlib.import_module(module), cls)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            return None


@pytest.fixture(scope="module")
def rig_file(tmp_path_factory):
    """The shipped nominal rig with serials filled in (the shipped file has none until set up)."""
    rig = load_cameras_config(ROOT / "config" / "cameras.yaml")
    for i, name in enumerate(sorted(rig.cameras)):
        rig = rig.with_camera(replace(rig.cameras[name], serial=f"00012345678{i}"))
    path = tmp_path_factory.mktemp("rig") / "cameras.yaml"
    dump_cameras_config(rig, path)
    return path, rig


def test_sim_launch_starts_the_bridge_and_our_nodes_with_the_shared_parameter_file():
    result = run_launch(
        ROOT / "launch" / "sim.launch.py", {"task": "pack_battery", "seed": "3", "use_rviz": "false"}
    )
    enabled = {n.fully_qualified_name: n.package for n in result.enabled_nodes}
    assert enabled == {
        **{f"/{name}": package for name, package in OUR_NODES.items()},
        "/sim_bridge_node": "codediffuser_sim",
        "/follower_left/robot_state_publisher": "robot_state_publisher",
        "/follower_right/robot_state_publisher": "robot_state_publisher",
    }
    assert not result.node("rviz2").enabled
    arm = result.node("/follower_left/robot_state_publisher").parameters
    assert arm["frame_prefix"] == "follower_left/"
    assert '<joint name="waist"' in arm["robot_description"]
    assert 'filename="file:///' in arm["robot_description"]
    for node in [n for n in result.enabled_nodes if n.package.startswith("codediffuser")]:
        assert node.parameter_files == [str(NODES_YAML.resolve())] or node.parameter_files == [
            str(ROOT / "src" / "codediffuser" / "config" / "nodes.yaml")
        ]
        assert node.remappings == []
    bridge = result.node("sim_bridge_node")
    assert (bridge.parameters["task"], bridge.parameters["seed"], bridge.parameters["level"]) == (
        "pack_battery",
        3,
        "none",
    )
    assert bridge.parameters["cameras_config"].endswith("config/cameras_sim.yaml")
    fusion = result.node("fusion_node").parameters
    assert fusion["use_segmentation"] is True
    assert fusion["feature_backend"] == "none"
    codegen = result.node("codegen_node").parameters
    assert (codegen["detector"], codegen["mask_backend"]) == ("metadata", "none")


def test_sim_launch_rviz_uses_the_attention_config():
    rviz = run_launch(ROOT / "launch" / "sim.launch.py").node("rviz2")
    assert rviz.enabled
    assert rviz.arguments[0] == "-d"
    assert rviz.arguments[1].endswith("config/attention.rviz")
    assert Path(rviz.arguments[1]).is_file()


def test_real_launch_starts_one_realsense_per_camera_with_calibrated_tf(rig_file):
    path, rig = rig_file
    result = run_launch(
        ROOT / "launch" / "real.launch.py", {"cameras_config": str(path), "use_rviz": "false"}
    )
    drivers = [n for n in result.enabled_nodes if n.package == "realsense2_camera"]
    assert [n.fully_qualified_name for n in drivers] == [f"/cameras/{name}" for name in rig.cameras]
    serials = [n.parameters["serial_no"] for n in drivers]
    assert serials == [f"_{c.serial}" for c in rig.cameras.values()]
    assert len(set(serials)) == len(serials)
    for node in drivers:
        p = node.parameters
        assert p["camera_name"] == node.name
        assert p["align_depth.enable"] is True
        assert p["enable_sync"] is True
        assert p["publish_tf"] is False
    tf_nodes = {
        n.name: n.arguments for n in result.enabled_nodes if n.executable == "static_transform_publisher"
    }
    for name, camera in rig.cameras.items():
        args = tf_nodes[f"{name}_calibration_tf"]
        values = dict(zip(args[::2], args[1::2], strict=True))
        assert values["--frame-id"] == "world"
        assert values["--child-frame-id"] == f"{name}_color_optical_frame"
        np.testing.assert_allclose(
            [float(values[k]) for k in ("--x", "--y", "--z")], camera.T_world_cam[:3, 3], atol=1e-6
        )
    assert {n.name for n in result.enabled_nodes if n.package.startswith("codediffuser_")} == set(OUR_NODES)


def test_real_launch_brings_up_both_follower_arms_with_their_base_frames(rig_file):
    from codediffuser_policy.kinematics import load_arm_model

    result = run_launch(ROOT / "launch" / "real.launch.py", {"cameras_config": str(rig_file[0])})
    includes = {inc.arguments["robot_name"]: inc for inc in result.includes}
    assert set(includes) == {"follower_left", "follower_right"}
    for side in ("left", "right"):
        inc = includes[f"follower_{side}"]
        assert inc.path == f"{EXTERNAL_SHARE}/interbotix_xsarm_control/launch/xsarm_control.launch.py"
        assert inc.arguments["robot_model"] == "aloha_vx300s"
        assert inc.arguments["use_world_frame"] == "false"
        assert inc.arguments["mode_configs"] == f"{EXTERNAL_SHARE}/aloha/config/follower_modes_{side}.yaml"
        args = result.node(f"follower_{side}_base_tf").arguments
        values = dict(zip(args[::2], args[1::2], strict=True))
        assert values["--child-frame-id"] == f"follower_{side}/base_link"
        base = load_arm_model(side).base_pose
        np.testing.assert_allclose([float(values[k]) for k in ("--x", "--y", "--z")], base[:3, 3], atol=1e-6)
    assert result.node("rviz2").enabled


def test_real_launch_hardware_switches_and_unset_serials(rig_file):
    result = run_launch(
        ROOT / "launch" / "real.launch.py",
        {"cameras_config": str(rig_file[0]), "use_arms": "false", "use_cameras": "false"},
    )
    assert result.includes == []
    assert {n.package for n in result.enabled_nodes} == {*OUR_NODES.values(), "rviz2"}
    with pytest.raises(CalibrationError, match="no serial"):
        run_launch(ROOT / "launch" / "real.launch.py")  # the shipped rig file has no serials yet


def test_missing_rig_file_is_refused():
    with pytest.raises((LaunchError, ValueError), match=r"no such camera rig file|does not exist"):
        run_launch(ROOT / "launch" / "real.launch.py", {"cameras_config": "/nonexistent/cameras.yaml"})


@pytest.mark.parametrize("node", sorted(NODE_CONFIGS))
def test_nodes_yaml_matches_each_node_schema(node):
    config = _node_config(node)
    if config is None:
        pytest.skip(f"{node} has not landed")
    config_from_params(config, load_node_params(NODES_YAML, node))  # raises on unknown keys / bad values
