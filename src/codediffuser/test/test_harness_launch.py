"""The launch stand-in runs a launch file without ROS and resolves its nodes, parameters and remappings."""

from pathlib import Path

import pytest

from codediffuser.testing.launch_runner import EXTERNAL_SHARE, LaunchError, run_launch

HERE = Path(__file__).parent
SAMPLE = HERE / "harness_sample.launch.py"
SHARES = {"harness_pkg": str(HERE)}


def _run(**arguments):
    return run_launch(SAMPLE, arguments, package_shares=SHARES)


def test_nodes_parameters_and_remappings_resolve():
    result = _run(robot="aloha", voxel="0.01")
    fusion = result.node("fusion")
    assert (fusion.package, fusion.executable, fusion.namespace) == (
        "codediffuser_perception",
        "fusion_node",
        "/",
    )
    # file first (its "/**" and "fusion" sections, nested keys joined), then the dict; "0.01" parsed as YAML
    assert fusion.parameters == {
        "use_sim_time": True,
        "voxel_size_m": 0.01,
        "cameras.names": ["cam0", "cam1"],
        "robot": "aloha",
    }
    assert fusion.parameter_files == [str(HERE / "harness_sample_params.yaml")]
    assert fusion.remappings == [("image", "/cameras/aloha/image")]
    assert [n.fully_qualified_name for n in result.nodes if n.package == "driver"] == [
        "/cameras/cam0",
        "/cameras/cam1",
    ]


def test_conditions_group_namespace_and_include(monkeypatch):
    monkeypatch.delenv("HARNESS_HOME", raising=False)
    result = _run(robot="aloha", use_rviz="true", cameras="0")
    assert result.node("rviz2").enabled
    assert not [n for n in result.enabled_nodes if n.executable == "headless_monitor"]
    policy = result.node("/aloha/policy")
    # SetParameter first; nested keys joined; ints mixed with floats become floats; plain strings stay strings
    assert policy.parameters == {
        "robot_name": "aloha",
        "side": "right",
        "gains.kp": 1.5,
        "gains.kd": 0.1,
        "limits": [1.0, 2.5],
        "label": "007",
    }
    assert policy.remappings == [("/joint_states", "joint_states")]
    assert (
        result.includes[0].path == f"{EXTERNAL_SHARE}/interbotix_xsarm_control/launch/xsarm_control.launch.py"
    )
    assert result.includes[0].arguments == {"robot_name": "aloha"}
    assert result.arguments["mode"].default == "sim"
    assert result.logs == ["starting right arm of aloha"]
    assert result.node("recorder").parameters == {
        "home": "/tmp"
    }  # EnvironmentVariable default, in a TimerAction
    real = _run(robot="aloha", mode="real")
    with pytest.raises(KeyError):
        real.node("policy")  # the group only runs in sim mode


def test_bad_launch_input_is_refused():
    with pytest.raises(LaunchError, match="'robot' is required"):
        _run()
    with pytest.raises(LaunchError, match="one of"):
        _run(robot="aloha", mode="mujoco")
    with pytest.raises(LaunchError, match="condition"):
        _run(robot="aloha", use_rviz="maybe")
    with pytest.raises(LaunchError, match="parameter file"):
        run_launch(SAMPLE, {"robot": "aloha"}, package_shares={"harness_pkg": "/nonexistent"})


@pytest.mark.parametrize(("value", "message"), [("", "NoneType"), ("{a: 1}", "dict"), ("[1, a]", "one type")])
def test_parameter_values_launch_ros_refuses(tmp_path, value, message):
    launch_file = tmp_path / "one.launch.py"
    launch_file.write_text(
        "from launch import LaunchDescription\n"
        "from launch.substitutions import LaunchConfiguration\n"
        "from launch_ros.actions import Node\n"
        "def generate_launch_description():\n"
        "    return LaunchDescription([Node(package='p', executable='e', parameters=[{'x': LaunchConfiguration('v')}])])\n"
    )
    with pytest.raises(LaunchError, match=message):
        run_launch(launch_file, {"v": value})


def test_launched_parameters_feed_the_node_harness():
    from codediffuser.testing import fake_ros

    overrides = _run(robot="aloha").parameter_overrides()
    assert overrides["/fusion"]["voxel_size_m"] == 0.02
    with fake_ros(parameters=overrides):
        import rclpy
        from rclpy.exceptions import InvalidParameterTypeException
        from rclpy.node import Node

        rclpy.init()
        node = Node("fusion")
        assert node.get_parameter("use_sim_time").value is True  # from the file's "/**" section
        assert node.declare_parameter("voxel_size_m", 0.01).value == 0.02
        with pytest.raises(InvalidParameterTypeException):
            node.declare_parameter("robot", 0)  # the launch file gives a string
