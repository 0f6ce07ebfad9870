"""fusion_node in the ROS-free harness: synthetic four-camera scene in, feature cloud out; stale data; bad input."""

import numpy as np
import pytest

from codediffuser.testing import fake_ros
from codediffuser_perception import ros_conversions as conv
from codediffuser_perception.synthetic import four_view_rig, two_category_scene

PARAMS = {
    "fusion_node": {
        "use_segmentation": True,
        "feature_backend": "none",
        "min_period_s": 0.0,
        "fusion.voxel_size_m": 0.01,
    }
}


@pytest.fixture(scope="module")
def views():
    return four_view_rig(two_category_scene(), width=64, height=48)


def _publish_rig(ros, views, stamp_s, skip=(), color_encoding="rgb8"):
    """Publish TF, camera_info and the images of every view (except `skip`) at `stamp_s`."""
    from sensor_msgs.msg import CameraInfo, Image
    from tf2_msgs.msg import TFMessage

    from codediffuser_perception.node import TF_STATIC_QOS

    ros.publish(
        "/tf_static",
        TFMessage(
            transforms=[
                conv.matrix_to_transform_stamped(
                    v.T_world_cam, "world", f"{v.name}_color_optical_frame", stamp_s
                )
                for v in views
            ]
        ),
        TF_STATIC_QOS,
    )
    for v in views:
        if v.name in skip:
            continue
        frame = f"{v.name}_color_optical_frame"
        ros.publish(
            f"/cameras/{v.name}/color/camera_info",
            conv.K_to_camera_info(v.K, v.width, v.height, frame, stamp_s, CameraInfo()),
        )
        color = conv.numpy_to_image(v.rgb, color_encoding, frame, stamp_s, Image())
        ros.publish(f"/cameras/{v.name}/color/image_raw", color)
        ros.publish(
            f"/cameras/{v.name}/aligned_depth_to_color/image_raw",
            conv.depth_m_to_image(v.depth, frame, stamp_s, Image()),
        )
        ros.publish(
            f"/cameras/{v.name}/segmentation/image_raw",
            conv.labels_to_image(v.segmentation, frame, stamp_s, Image()),
        )


def _start(ros):
    import rclpy

    from codediffuser_perception.node import FusionNode

    rclpy.init()
    return FusionNode()


def test_four_synchronised_views_become_one_feature_cloud_with_object_ids(views):
    with fake_ros(parameters=PARAMS) as ros:
        _start(ros)
        _publish_rig(ros, views, ros.now)
        clouds = ros.messages("/codediffuser/feature_cloud")
        assert len(clouds) == 1
        msg = clouds[0]
        assert msg.header.frame_id == "world"
        assert [c.header.frame_id for c in msg.color_images] == [
            f"cam{i}_color_optical_frame" for i in range(4)
        ]
        cloud = conv.msg_to_feature_cloud(msg)
        _, _, extras = conv.cloud_to_points(msg.cloud)
        ids = extras["object_id"].astype(int)
        assert set(ids) >= {0, 1, 2, 3}
        # points of each box lie around its centre (fusion recovered the scene)
        for box in two_category_scene().boxes:
            centre = cloud.points[ids == box.object_id].mean(axis=0)
            assert np.linalg.norm(centre[:2] - np.asarray(box.center[:2])) < 0.02
        np.testing.assert_allclose(cloud.views[0].T_world_cam, views[0].T_world_cam, atol=1e-5)


def test_a_silent_camera_is_reported_stale_and_no_cloud_is_published(views):
    with fake_ros(parameters=PARAMS) as ros:
        _start(ros)
        for _ in range(3):  # cam0, cam1, cam3 keep publishing; cam2 never does
            _publish_rig(ros, views, ros.now, skip=("cam2",))
            ros.advance(0.7)
        assert ros.messages("/codediffuser/feature_cloud") == []
        errors = [r.message for r in ros.logs("ERROR", "fusion_node")]
        assert any("stale camera data" in e and "cam2" in e and "cam0" not in e for e in errors)


def test_wrong_encoding_is_logged_and_the_node_keeps_fusing(views):
    with fake_ros(parameters=PARAMS) as ros:
        _start(ros)
        _publish_rig(ros, views, ros.now, color_encoding="bgr8")
        ros.advance(0.5)
        from sensor_msgs.msg import Image

        bad = views[0].depth  # a float image published as the colour stream
        for v in views:
            frame = f"{v.name}_color_optical_frame"
            image = conv.numpy_to_image(bad.astype(np.float32), "32FC1", frame, ros.now, Image())
            ros.publish(f"/cameras/{v.name}/color/image_raw", image)
            ros.publish(
                f"/cameras/{v.name}/aligned_depth_to_color/image_raw",
                conv.depth_m_to_image(v.depth, frame, ros.now, Image()),
            )
            ros.publish(
                f"/cameras/{v.name}/segmentation/image_raw",
                conv.labels_to_image(v.segmentation, frame, ros.now, Image()),
            )
        assert any(
            "no feature cloud from this set" in r.message and "32FC1" in r.message for r in ros.logs("ERROR")
        )
        ros.advance(0.5)
        _publish_rig(ros, views, ros.now)
        assert len(ros.messages("/codediffuser/feature_cloud")) == 2


def test_missing_calibration_tf_is_named(views):
    with fake_ros(parameters=PARAMS) as ros:
        from sensor_msgs.msg import CameraInfo, Image

        _start(ros)
        for v in views:
            frame = f"{v.name}_color_optical_frame"

            ros.publish(
                f"/cameras/{v.name}/color/camera_info",
                conv.K_to_camera_info(v.K, v.width, v.height, frame, ros.now, CameraInfo()),
            )
            ros.publish(
                f"/cameras/{v.name}/color/image_raw", conv.rgb_to_image(v.rgb, frame, ros.now, Image())
            )
            ros.publish(
                f"/cameras/{v.name}/aligned_depth_to_color/image_raw",
                conv.depth_m_to_image(v.depth, frame, ros.now, Image()),
            )
            ros.publish(
                f"/cameras/{v.name}/segmentation/image_raw",
                conv.labels_to_image(v.segmentation, frame, ros.now, Image()),
            )
        assert ros.messages("/codediffuser/feature_cloud") == []
        assert any("cam0_color_optical_frame" in r.message for r in ros.logs("ERROR", "fusion_node"))


def test_bad_parameters_stop_the_node_with_the_reason():
    from codediffuser_perception.ros_params import ConfigError

    with (
        fake_ros(parameters={"fusion_node": {"feature_backend": "clip"}}) as ros,
        pytest.raises(ConfigError, match="feature_backend must be"),
    ):
        _start(ros)


def test_dinov2_backend_gives_every_point_a_feature(views, tmp_path):
    """The real feature path, with a tiny randomly initialised DINOv2 saved like a hub checkpoint."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    Dinov2Model(config).save_pretrained(tmp_path)
    BitImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56}).save_pretrained(
        tmp_path
    )
    params = {
        "fusion_node": {
            **PARAMS["fusion_node"],
            "feature_backend": "dinov2",
            "dinov2_model": str(tmp_path),
            "dinov2_short_side_px": 56,
        }
    }
    with fake_ros(parameters=params) as ros:
        _start(ros)
        _publish_rig(ros, views, ros.now)
        (msg,) = ros.messages("/codediffuser/feature_cloud")
    cloud = conv.msg_to_feature_cloud(msg)
    assert msg.feature_dim == 16
    assert cloud.features.shape == (len(cloud), 16)
    seen = np.linalg.norm(cloud.features, axis=1) > 0
    assert seen.mean() > 0.9
    np.testing.assert_allclose(np.linalg.norm(cloud.features[seen], axis=1), 1.0, atol=1e-5)
