"""The workspace is a valid ROS 2 workspace and a set of pip packages at the same time (DESIGN.md §2)."""

import ast
import importlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PYTHON_PACKAGES = [
    "codediffuser_perception",
    "codediffuser_codegen",
    "codediffuser_policy",
    "codediffuser_sim",
    "codediffuser",
]


def _package_xml(name: str) -> ET.Element:
    return ET.parse(ROOT / "src" / name / "package.xml").getroot()


def _setup_call(name: str) -> ast.Call:
    tree = ast.parse((ROOT / "src" / name / "setup.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup"]
    assert len(calls) == 1
    return calls[0]


@pytest.mark.parametrize("name", [*PYTHON_PACKAGES, "codediffuser_msgs"])
def test_package_xml_is_format_3_and_named_like_its_folder(name):
    root = _package_xml(name)
    assert root.get("format") == "3"
    assert root.findtext("name") == name
    assert re.fullmatch(r"\d+\.\d+\.\d+", root.findtext("version"))
    assert root.findtext("license")
    assert root.find("maintainer").get("email")


@pytest.mark.parametrize("name", PYTHON_PACKAGES)
def test_ament_python_package_shape(name):
    pkg = ROOT / "src" / name
    assert _package_xml(name).findtext("export/build_type") == "ament_python"
    assert (pkg / "resource" / name).is_file(), "ament index marker resource/<pkg> is missing"
    assert (pkg / name / "__init__.py").is_file()
    setup_cfg = (pkg / "setup.cfg").read_text()
    assert f"$base/lib/{name}" in setup_cfg, "ros2 run looks for executables in lib/<pkg>"
    keywords = {k.arg: k.value for k in _setup_call(name).keywords}
    assert ast.unparse(keywords["name"]) == "package_name"
    assert f'package_name = "{name}"' in (pkg / "setup.py").read_text()
    assert "entry_points" in keywords


@pytest.mark.parametrize("name", PYTHON_PACKAGES)
def test_package_is_installed_and_every_console_script_resolves(name):
    """Node executables import rclpy, so they are imported inside the ROS-free harness."""
    from importlib.metadata import distribution

    from codediffuser.testing import fake_ros

    scripts = [ep for ep in distribution(name).entry_points if ep.group == "console_scripts"]
    with fake_ros():
        for ep in scripts:
            module, _, attr = ep.value.partition(":")
            assert callable(getattr(importlib.import_module(module), attr)), ep.value


def test_every_node_module_is_a_ros_executable():
    """`ros2 run <pkg> <node>` needs a console script for each node module."""
    from importlib.metadata import distribution

    declared = {
        ep.value.partition(":")[0]
        for name in PYTHON_PACKAGES
        for ep in distribution(name).entry_points
        if ep.group == "console_scripts"
    }
    nodes = {
        f"{name}.{path.stem}"
        for name in PYTHON_PACKAGES
        for path in (ROOT / "src" / name / name).glob("*node.py")
    }
    assert nodes
    assert nodes <= declared


def test_msgs_package_generates_every_interface_it_ships():
    pkg = ROOT / "src" / "codediffuser_msgs"
    root = _package_xml("codediffuser_msgs")
    assert root.findtext("export/build_type") == "ament_cmake"
    assert root.findtext("member_of_group") == "rosidl_interface_packages"
    cmake = (pkg / "CMakeLists.txt").read_text()
    shipped = sorted(str(p.relative_to(pkg)) for p in [*pkg.glob("msg/*.msg"), *pkg.glob("srv/*.srv")])
    listed = sorted(re.findall(r'"((?:msg|srv)/\w+\.(?:msg|srv))"', cmake))
    assert shipped == listed
    assert {"msg/FeatureCloud.msg", "msg/Instance.msg", "msg/InstanceArray.msg", "srv/Instruct.srv"} <= set(
        shipped
    )


def test_bringup_installs_root_launch_and_config_into_share():
    bringup = ROOT / "src" / "codediffuser"
    for folder in ("launch", "config"):
        link = bringup / folder
        assert link.is_symlink()
        assert link.resolve() == (ROOT / folder).resolve()
    setup_py = (bringup / "setup.py").read_text()
    assert '"/launch", glob("launch/*.launch.py")' in setup_py
    assert '"/config", glob("config/*.yaml")' in setup_py


def test_no_core_module_imports_ros():
    """DESIGN.md §2: only the ROS edge (`*node.py`, `*_live.py`, the harness) may import rclpy / messages."""
    forbidden = re.compile(
        r"^\s*(import|from)\s+(rclpy|sensor_msgs|std_msgs|geometry_msgs|cv_bridge)\b", re.M
    )
    offenders = []
    for name in PYTHON_PACKAGES:
        for path in (ROOT / "src" / name / name).rglob("*.py"):
            is_ros_edge = path.stem.endswith(("node", "_live")) or "testing" in path.parts
            if not is_ros_edge and forbidden.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
