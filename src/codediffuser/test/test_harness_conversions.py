"""ros_conversions with the harness's rclpy-like classes, through CDR, and on rosbags' dataclasses."""

import numpy as np
import pytest

from codediffuser.interfaces import get_typestore
from codediffuser.testing import fake_ros, roundtrip
from codediffuser.testing.messages import to_cdr
from codediffuser_perception import ros_conversions as conv
from codediffuser_perception.synthetic import intrinsics, look_at
from codediffuser_perception.types import CameraView, FeatureCloud


@pytest.fixture(autouse=True)
def ros():
    with fake_ros() as ros:
        yield ros


def as_rosbags(msg):
    """The same message as rosbags deserialises it from a bag."""
    return get_typestore().deserialize_cdr(to_cdr(msg), msg._typename)


def test_images_survive_cdr_and_read_from_rosbags_objects():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    depth = rng.uniform(0.2, 3.0, (6, 8)).astype(np.float32)
    depth[0, :3] = 0
    color_msg = conv.rgb_to_image(rgb, "cam0_color_optical_frame", 5.5)
    depth_msg = conv.depth_m_to_image(depth, "cam0_color_optical_frame", 5.5)
    for read in (roundtrip, as_rosbags):
        np.testing.assert_array_equal(conv.image_to_rgb(read(color_msg)), rgb)
        np.testing.assert_allclose(conv.image_to_depth_m(read(depth_msg)), depth, atol=5e-4)
    K = np.array([[100.0, 0, 4], [0, 100, 3], [0, 0, 1]])
    info = conv.K_to_camera_info(K, 8, 6, "cam0_color_optical_frame", 5.5)
    for read in (roundtrip, as_rosbags):
        np.testing.assert_array_equal(conv.camera_info_to_K(read(info)), K)


def test_point_cloud_transform_joint_state_through_cdr():
    from sensor_msgs.msg import PointField

    points = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)
    colors = np.random.default_rng(2).integers(0, 256, (50, 3), dtype=np.uint8)
    attention = np.linspace(0, 1, 50, dtype=np.float32)
    cloud = conv.points_to_cloud(points, colors, "world", 1.0, attention=attention)
    assert [f.datatype for f in cloud.fields] == [PointField.FLOAT32] * 5
    for read in (roundtrip, as_rosbags):
        xyz, rgb, extras = conv.cloud_to_points(read(cloud))
        np.testing.assert_array_equal(xyz, points)
        np.testing.assert_array_equal(rgb, colors)
        np.testing.assert_array_equal(extras["attention"], attention)
    T = np.eye(4)
    T[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    T[:3, 3] = [0.1, -0.2, 0.3]
    tf = roundtrip(conv.matrix_to_transform_stamped(T, "world", "cam0_color_optical_frame", 2.0))
    np.testing.assert_allclose(conv.transform_to_matrix(tf), T, atol=1e-12)
    joints = roundtrip(conv.dict_to_joint_state({"waist": 0.25, "gripper": 1.5}, 3.0))
    assert conv.joint_state_to_dict(joints) == {"waist": 0.25, "gripper": 1.5}


def test_feature_cloud_message_roundtrip():
    from codediffuser_msgs.msg import FeatureCloud as FeatureCloudMsg

    rng = np.random.default_rng(3)
    views = [
        CameraView(
            name,
            rng.integers(0, 256, (12, 16, 3), dtype=np.uint8),
            rng.uniform(0.3, 2.0, (12, 16)).astype(np.float32),
            intrinsics(16, 12),
            look_at(np.array(eye), np.zeros(3)),
            stamp=7.25,
        )
        for name, eye in (("cam0", (0.5, -0.5, 0.6)), ("cam1", (-0.5, -0.4, 0.7)))
    ]
    cloud = FeatureCloud(
        points=rng.normal(size=(30, 3)).astype(np.float32),
        colors=rng.integers(0, 256, (30, 3), dtype=np.uint8),
        features=rng.normal(size=(30, 4)).astype(np.float32),
        views=views,
    )
    msg = roundtrip(conv.feature_cloud_to_msg(cloud, FeatureCloudMsg(), "world", 7.25))
    back = conv.msg_to_feature_cloud(msg)
    np.testing.assert_array_equal(back.points, cloud.points)
    np.testing.assert_array_equal(back.colors, cloud.colors)
    np.testing.assert_array_equal(back.features, cloud.features)
    assert [v.name for v in back.views] == [v.name for v in views]
    for got, want in zip(back.views, views, strict=True):
        np.testing.assert_array_equal(got.rgb, want.rgb)
        np.testing.assert_array_equal(got.depth, want.depth)
        np.testing.assert_allclose(got.T_world_cam, want.T_world_cam, atol=1e-6)
        np.testing.assert_array_equal(got.K, want.K)
        assert got.stamp == pytest.approx(7.25)
    msg.feature_dim = 5
    with pytest.raises(conv.ConversionError, match="feature_dim"):
        conv.msg_to_feature_cloud(msg)


def test_instruct_response_with_instances_through_cdr():
    from codediffuser_msgs.srv import Instruct
    from codediffuser_perception.types import Instance

    instance = Instance(
        4, "mug", np.arange(5), *(np.full(3, v, np.float32) for v in (0.5, 0.25, 0.75)), score=0.5
    )
    response = Instruct.Response(success=True, program="attend(detect('mug')[0])", instance_ids=[4])
    response.instances = [conv.instance_to_msg(instance)]
    back = conv.msg_to_instance(roundtrip(response).instances[0])
    assert (back.id, back.category, back.score) == (4, "mug", 0.5)
    np.testing.assert_array_equal(back.indices, np.arange(5))
    np.testing.assert_array_equal(back.bbox_max, np.full(3, 0.75, np.float32))
