"""The typestore and the rclpy-like classes: every project message and service survives CDR."""

import array

import numpy as np
import pytest

from codediffuser.interfaces import InterfaceError, get_typestore, parse_package, service_types
from codediffuser.testing.messages import message_classes, message_modules, roundtrip, to_cdr

PROJECT_TYPES = [
    name
    for name in get_typestore().fielddefs
    if name.startswith(("codediffuser_msgs/", "interbotix_xs_msgs/", "std_srvs/"))
]


def _filled(cls, depth=0):
    """An instance with a non-default value in every field (lists get two elements)."""
    msg = cls()
    for name, desc in cls._fielddefs:
        setattr(msg, name, _value(desc, cls, depth))
    return msg


def _value(desc, cls, depth):
    kind, detail = desc
    if kind == 2:  # nested
        return _filled(cls._registry[detail], depth + 1)
    if kind == 1:
        base = detail[0]
        if base == "string":
            return f"v{depth}"
        if base == "bool":
            return True
        return 1.5 if base.startswith("float") else 7
    (sub_kind, sub_detail), size = desc[1]
    count = size if kind == 3 else 2
    if sub_kind == 1 and sub_detail[0] not in ("string", "bool"):
        return [_value((1, sub_detail), cls, depth) for _ in range(count)]
    return [_value((sub_kind, sub_detail), cls, depth) for _ in range(count)]


def test_project_types_registered():
    assert {
        "codediffuser_msgs/msg/FeatureCloud",
        "codediffuser_msgs/msg/Instance",
        "codediffuser_msgs/msg/InstanceArray",
        "codediffuser_msgs/srv/Instruct_Request",
        "codediffuser_msgs/srv/Instruct_Response",
        "interbotix_xs_msgs/msg/JointGroupCommand",
        "interbotix_xs_msgs/msg/JointSingleCommand",
        "std_srvs/srv/Trigger_Request",
        "std_srvs/srv/Trigger_Response",
    } <= set(PROJECT_TYPES)
    assert {"codediffuser_msgs/srv/Instruct", "std_srvs/srv/Trigger"} <= set(service_types(get_typestore()))


@pytest.mark.parametrize("typename", sorted(PROJECT_TYPES))
def test_every_project_type_roundtrips_through_cdr(typename):
    msg = _filled(message_classes()[typename])
    copy = roundtrip(msg)
    assert copy == msg
    assert copy is not msg


def test_srv_references_point_at_msg_package():
    fields = dict(get_typestore().fielddefs["codediffuser_msgs/srv/Instruct_Response"][1])
    assert fields["instances"][1][0][1] == "codediffuser_msgs/msg/Instance"


def test_cdr_bytes_match_the_wire_layout():
    JointGroupCommand = message_modules()["interbotix_xs_msgs.msg"].JointGroupCommand
    data = to_cdr(JointGroupCommand(name="arm", cmd=[0.5]))
    # header, uint32 length 4 + "arm\0", uint32 count 1, float32 0.5
    assert (
        data
        == b"\x00\x01\x00\x00" + b"\x04\x00\x00\x00arm\x00" + b"\x01\x00\x00\x00" + np.float32(0.5).tobytes()
    )


def test_classes_behave_like_rclpy():
    msgs = message_modules()
    Image = msgs["sensor_msgs.msg"].Image
    image = Image()
    assert image.header.stamp.sec == 0
    assert isinstance(image.data, array.array)
    with pytest.raises(AttributeError):
        image.widht = 3
    with pytest.raises(AssertionError, match="width"):
        image.width = 3.0
    with pytest.raises(AssertionError, match="data"):
        image.data = np.zeros(3, np.uint8)  # rclpy refuses numpy arrays for unbounded sequences
    Point = msgs["geometry_msgs.msg"].Point
    with pytest.raises(AssertionError):
        Point(x=1)  # an int is not a float64
    with pytest.raises(AssertionError):
        Point(x=np.float32(1.0))
    info = msgs["sensor_msgs.msg"].CameraInfo()
    info.k = np.eye(3).ravel()
    assert roundtrip(info).k.dtype == np.float64
    assert msgs["sensor_msgs.msg"].PointField.FLOAT32 == 7
    FloatingPointRange = msgs["rcl_interfaces.msg"].FloatingPointRange
    with pytest.raises(AssertionError, match="floating_point_range"):
        msgs["rcl_interfaces.msg"].ParameterDescriptor(floating_point_range=[FloatingPointRange()] * 2)  # <=1
    Trigger = msgs["std_srvs.srv"].Trigger
    assert Trigger.Request.__name__ == "Trigger_Request"
    assert roundtrip(Trigger.Response(success=True, message="ok")).message == "ok"


def test_malformed_definitions_name_the_file(tmp_path):
    (tmp_path / "msg").mkdir()
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "Bad.srv").write_text("string a\n")
    with pytest.raises(InterfaceError, match=r"Bad\.srv"):
        parse_package(tmp_path, "pkg")
    (tmp_path / "srv" / "Bad.srv").unlink()
    (tmp_path / "msg" / "Broken.msg").write_text("float32[ a\n")
    with pytest.raises(InterfaceError, match=r"Broken\.msg"):
        parse_package(tmp_path, "pkg")


def test_unknown_field_type_is_refused(tmp_path):
    (tmp_path / "msg").mkdir()
    (tmp_path / "msg" / "Typo.msg").write_text("strin name\n")  # parses, but names no known type
    with pytest.raises(InterfaceError, match="Typo"):
        get_typestore(tmp_path)


def test_msgs_dir_from_env_then_source_tree_then_ament_prefix(tmp_path, monkeypatch):
    import codediffuser.interfaces as interfaces

    share = tmp_path / "install" / "share" / "codediffuser_msgs"
    (share / "msg").mkdir(parents=True)
    monkeypatch.setattr(interfaces, "VENDORED_DIR", tmp_path / "site" / "codediffuser" / "interfaces")
    monkeypatch.delenv(interfaces.MSGS_DIR_ENV, raising=False)
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"/opt/ros/humble:{tmp_path / 'install'}")
    assert interfaces.find_msgs_dir() == share  # a built ROS workspace
    monkeypatch.setenv(interfaces.MSGS_DIR_ENV, str(tmp_path / "missing"))
    monkeypatch.setenv("AMENT_PREFIX_PATH", "")
    with pytest.raises(InterfaceError, match=interfaces.MSGS_DIR_ENV):
        interfaces.find_msgs_dir()
    monkeypatch.setenv(interfaces.MSGS_DIR_ENV, str(share))
    assert interfaces.find_msgs_dir() == share
