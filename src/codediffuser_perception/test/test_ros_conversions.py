"""ros_conversions on duck-typed messages (plain namespaces): both directions, layouts, and clear errors."""

import importlib.util
import struct
from types import SimpleNamespace

import numpy as np
import pytest

from codediffuser_perception import ros_conversions as conv
from codediffuser_perception.geometry import make_pose
from codediffuser_perception.ros_conversions import ConversionError

NS = SimpleNamespace  # a duck-typed message


def header():
    return NS(stamp=NS(sec=0, nanosec=0), frame_id="")


def image(**fields):
    return NS(header=header(), height=0, width=0, encoding="", is_bigendian=0, step=0, data=b"", **fields)


def raw_image(pixels, encoding, pad=0, bigendian=False):
    """An Image message built by hand: rows padded with `pad` bytes."""
    data = pixels.astype(pixels.dtype.newbyteorder(">" if bigendian else "<"))
    rows = data.reshape(pixels.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((len(rows), pad), 255, np.uint8)], axis=1)
    msg = image()
    msg.height, msg.width, msg.encoding = pixels.shape[0], pixels.shape[1], encoding
    msg.is_bigendian, msg.step, msg.data = int(bigendian), padded.shape[1], padded.tobytes()
    return msg


RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (3, 4, 3), dtype=np.uint8)


def test_color_images_honour_step_and_channel_order():
    assert np.array_equal(conv.image_to_rgb(raw_image(RGB, "rgb8", pad=4)), RGB)
    assert np.array_equal(conv.image_to_rgb(raw_image(RGB[..., ::-1].copy(), "bgr8")), RGB)
    msg = conv.rgb_to_image(RGB, "cam0_color_optical_frame", 3.25, image())
    assert (msg.step, msg.encoding, msg.header.frame_id) == (12, "rgb8", "cam0_color_optical_frame")
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (3, 250_000_000)
    assert np.array_equal(conv.image_to_rgb(msg), RGB)


def test_depth_16uc1_mm_and_32fc1_m_to_metres_with_zero_invalid():
    mm = np.array([[0, 1000], [1500, 65535]], np.uint16)
    for bigendian in (False, True):
        depth = conv.image_to_depth_m(raw_image(mm, "16UC1", pad=2, bigendian=bigendian))
        assert depth.dtype == np.float32
        np.testing.assert_allclose(depth, [[0, 1.0], [1.5, 65.535]], rtol=1e-6)
    metres = np.array([[np.nan, 0.5], [-1.0, np.inf]], np.float32)
    np.testing.assert_array_equal(conv.image_to_depth_m(raw_image(metres, "32FC1")), [[0, 0.5], [0, 0]])
    msg = conv.depth_m_to_image(np.array([[0.0012, np.nan], [2.0, 0.0]], np.float32), "f", 0.0, image())
    assert msg.encoding == "16UC1"
    np.testing.assert_array_equal(conv.image_to_numpy(msg), [[1, 0], [2000, 0]])
    msg32 = conv.depth_m_to_image(np.full((2, 2), 0.75, np.float32), "f", 0.0, image(), encoding="32FC1")
    np.testing.assert_array_equal(conv.image_to_depth_m(msg32), np.full((2, 2), 0.75, np.float32))


def test_labels_roundtrip():
    labels = np.array([[0, -1], [7, 123456]], np.int32)
    np.testing.assert_array_equal(
        conv.image_to_labels(conv.labels_to_image(labels, "f", 0.0, image())), labels
    )


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: setattr(m, "encoding", "yuv422"), "encoding"),
        (lambda m: setattr(m, "step", 5), "step"),
        (lambda m: setattr(m, "data", m.data[:-1]), "data"),
    ],
)
def test_bad_images_name_the_field(mutate, field):
    msg = raw_image(RGB, "rgb8")
    mutate(msg)
    with pytest.raises(ConversionError, match=field):
        conv.image_to_rgb(msg)


def test_wrong_kind_of_image_is_refused():
    with pytest.raises(ConversionError, match="encoding"):
        conv.image_to_depth_m(raw_image(RGB, "rgb8"))
    with pytest.raises(ConversionError, match="encoding"):
        conv.image_to_rgb(raw_image(np.zeros((2, 2), np.uint16), "16UC1"))
    with pytest.raises(ConversionError, match="uint8"):
        conv.rgb_to_image(RGB.astype(np.float32), "f", 0.0, image())
    with pytest.raises(ValueError, match="encoding"):  # ConversionError is a ValueError
        conv.image_to_numpy(NS(encoding="jpeg"))


def camera_info():
    return NS(
        header=header(),
        height=0,
        width=0,
        distortion_model="",
        d=[],
        k=np.zeros(9),
        r=np.zeros(9),
        p=np.zeros(12),
    )


def test_camera_info_roundtrip_and_errors():
    K = np.array([[500.0, 0, 320], [0, 510, 240], [0, 0, 1]])
    msg = conv.K_to_camera_info(K, 640, 480, "cam0", 1.0, camera_info(), distortion=[0.1, 0, 0, 0, 0])
    assert (msg.width, msg.height, msg.distortion_model, msg.d[0]) == (640, 480, "plumb_bob", 0.1)
    np.testing.assert_array_equal(np.reshape(msg.p, (3, 4))[:, :3], K)
    K2 = conv.camera_info_to_K(msg)
    assert K2.dtype == np.float32
    np.testing.assert_array_equal(K2, K)
    with pytest.raises(ConversionError, match=r"CameraInfo\.k"):
        conv.camera_info_to_K(camera_info())


def point_field(name, offset, datatype=7):
    return NS(name=name, offset=offset, datatype=datatype, count=1)


def cloud_msg():
    return NS(
        header=header(),
        height=0,
        width=0,
        fields=[],
        is_bigendian=False,
        point_step=0,
        row_step=0,
        data=b"",
        is_dense=False,
    )


def test_point_cloud_layout_matches_sensor_msgs_py(monkeypatch):
    points = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]], np.float32)
    colors = np.array([[255, 0, 16], [1, 2, 3]], np.uint8)
    attention = np.array([0.0, 1.0], np.float32)
    import codediffuser_perception.ros_conversions.clouds as clouds

    # PointField stand-ins for the namespace message (restored after the test)
    monkeypatch.setattr(clouds, "new_message", lambda module, name: point_field("", 0))
    msg = conv.points_to_cloud(points, colors, "world", 2.0, cloud_msg(), attention=attention)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, 7, 1),
        ("y", 4, 7, 1),
        ("z", 8, 7, 1),
        ("rgb", 12, 7, 1),
        ("attention", 16, 7, 1),
    ]
    assert (msg.height, msg.width, msg.point_step, msg.row_step, msg.is_bigendian) == (1, 2, 20, 40, False)
    first = bytes(msg.data)[:20]
    assert struct.unpack("<3fIf", first) == (1.0, 2.0, 3.0, 0xFF0010, 0.0)  # rgb: 0x00RRGGBB bits
    back_points, back_colors, extras = conv.cloud_to_points(msg)
    np.testing.assert_array_equal(back_points, points)
    np.testing.assert_array_equal(back_colors, colors)
    np.testing.assert_array_equal(extras["attention"], attention)


def test_point_cloud_reader_honours_offsets_padding_row_step_and_endianness():
    values = np.array([[1.5, -2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]], np.float64)
    rows = []
    for row in values.reshape(2, 2, 2):
        cells = b"".join(b"\x00" * 4 + struct.pack(">dd", *p) for p in row)  # 4 pad bytes, then 2 float64
        rows.append(cells + b"\xff" * 8)  # row padding
    msg = cloud_msg()
    msg.fields = [point_field("a", 4, 8), point_field("b", 12, 8)]
    msg.height, msg.width, msg.point_step, msg.row_step = 2, 2, 20, 48
    msg.is_bigendian, msg.data = True, b"".join(rows)
    array = conv.cloud_to_array(msg)
    np.testing.assert_array_equal(array["a"], values[:, 0])
    np.testing.assert_array_equal(array["b"], values[:, 1])
    msg.row_step = 30
    with pytest.raises(ConversionError, match="row_step"):
        conv.cloud_to_array(msg)
    msg.row_step, msg.fields = 48, [point_field("a", 16, 8)]
    with pytest.raises(ConversionError, match=r"fields\[0\]"):
        conv.cloud_to_array(msg)
    msg.fields = [point_field("x", 4, 8)]
    with pytest.raises(ConversionError, match="lacks"):
        conv.cloud_to_points(msg)


def transform_msg():
    vec = NS(x=0.0, y=0.0, z=0.0)
    return NS(
        header=header(),
        child_frame_id="",
        transform=NS(translation=vec, rotation=NS(x=0.0, y=0.0, z=0.0, w=1.0)),
    )


def test_transforms_and_lookup():
    from scipy.spatial.transform import Rotation

    T_world_base = make_pose(Rotation.from_euler("z", 90, degrees=True).as_matrix(), [1.0, 0, 0])
    T_base_cam = make_pose(Rotation.from_euler("x", -120, degrees=True).as_matrix(), [0, 0.2, 0.5])
    edges = [
        conv.matrix_to_transform_stamped(T_world_base, "world", "base", 0.0, transform_msg()),
        conv.matrix_to_transform_stamped(T_base_cam, "/base", "cam", 0.0, transform_msg()),
    ]
    np.testing.assert_allclose(conv.transform_to_matrix(edges[0]), T_world_base, atol=1e-12)
    np.testing.assert_allclose(
        conv.lookup_transform(edges, "world", "cam"), T_world_base @ T_base_cam, atol=1e-9
    )
    np.testing.assert_allclose(
        conv.lookup_transform(edges, "cam", "world"), np.linalg.inv(T_world_base @ T_base_cam), atol=1e-9
    )
    with pytest.raises(ConversionError, match="no transform chain"):
        conv.lookup_transform(edges, "world", "gripper")
    with pytest.raises(ConversionError, match="rotation"):
        conv.matrix_to_transform_stamped(np.diag([1.0, 1.0, -1.0, 1.0]), "a", "b", 0.0, transform_msg())
    bad = transform_msg()
    bad.transform.rotation = NS(x=0.0, y=0.0, z=0.0, w=0.0)
    with pytest.raises(ConversionError, match="quaternion"):
        conv.transform_to_matrix(bad)


def test_joint_states_and_stamps():
    msg = conv.dict_to_joint_state(
        {"waist": 0.5, "gripper": 1.2}, 10.000000001, NS(header=header(), name=[], position=[])
    )
    assert conv.joint_state_to_dict(msg) == {"waist": 0.5, "gripper": 1.2}
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (10, 1)
    assert conv.stamp_to_seconds(msg.header.stamp) == pytest.approx(10.000000001)
    msg.position = [0.5]
    with pytest.raises(ConversionError, match="position"):
        conv.joint_state_to_dict(msg)
    with pytest.raises(ConversionError, match="stamp"):
        conv.seconds_to_stamp(-1.0, NS(sec=0, nanosec=0))


@pytest.mark.skipif(
    importlib.util.find_spec("sensor_msgs") is not None, reason="a ROS installation is present"
)
def test_builders_without_msg_outside_ros_say_what_to_do():
    with pytest.raises(ConversionError, match="msg="):
        conv.rgb_to_image(RGB, "f", 0.0)


def test_instances_roundtrip_and_index_range():
    from codediffuser_perception.types import Instance

    point = lambda: NS(x=0.0, y=0.0, z=0.0)  # noqa: E731
    msg = NS(
        id=0,
        category="",
        name="",
        score=0.0,
        centroid=point(),
        bbox_min=point(),
        bbox_max=point(),
        indices=[],
    )
    instance = Instance(
        id=4,
        category="battery",
        indices=np.array([3, 9, 12]),
        centroid=np.array([0.1, -0.2, 0.05], np.float32),
        bbox_min=np.array([0.08, -0.22, 0.0], np.float32),
        bbox_max=np.array([0.12, -0.18, 0.1], np.float32),
        score=0.75,
        metadata={"name": "battery_red_1", "color": "red"},
    )
    back = conv.msg_to_instance(conv.instance_to_msg(instance, msg))
    assert (back.id, back.category, back.score, back.metadata) == (
        4,
        "battery",
        0.75,
        {"name": "battery_red_1"},
    )
    np.testing.assert_array_equal(back.indices, instance.indices)
    np.testing.assert_array_equal(back.bbox_max, instance.bbox_max)
    instance.indices = np.array([-1])
    with pytest.raises(ConversionError, match="indices"):
        conv.instance_to_msg(instance, msg)
