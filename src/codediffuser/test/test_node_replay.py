"""`codediffuser replay` on a small four-camera bag written here (rosbags + the project's typestore)."""

import json

import numpy as np
import pytest

from codediffuser import replay
from codediffuser.interfaces import get_typestore
from codediffuser_perception import ros_conversions as conv
from codediffuser_perception.synthetic import Box, SyntheticScene, four_view_rig

STORE = get_typestore()
OBJECTS = {
    1: {"category": "battery", "name": "red battery", "color": "red"},
    2: {"category": "battery", "name": "blue battery", "color": "blue"},
    3: {"category": "slot", "name": "slot front-1", "row": "front", "column": "1"},
    4: {"category": "slot", "name": "slot front-2", "row": "front", "column": "2"},
}
INSTRUCTION = "pack the battery on the left into the front left slot"


def _scene(dx: float = 0.0) -> SyntheticScene:
    return SyntheticScene(
        boxes=[
            Box(1, "battery", (-0.12 + dx, -0.08, 0.03), (0.03, 0.03, 0.06), (200, 30, 30)),
            Box(2, "battery", (0.12, -0.08, 0.03), (0.03, 0.03, 0.06), (30, 30, 200)),
            Box(3, "slot", (-0.10, 0.10, 0.01), (0.05, 0.05, 0.02), (90, 90, 90)),
            Box(4, "slot", (0.02, 0.10, 0.01), (0.05, 0.05, 0.02), (90, 90, 90)),
        ]
    )


def _rosbags(msg):
    """The rosbags object of a fake message (the builders fill rclpy-like classes)."""
    from codediffuser.testing.messages import to_rosbags

    return to_rosbags(msg)


def write_bag(path, instants, with_tf=True, with_objects=True):
    """Four cameras (colour, depth mm, segmentation, camera_info) at each instant, /tf_static, /sim/objects."""
    from rosbags.rosbag2 import Writer

    from codediffuser.testing import fake_ros

    messages = []
    with fake_ros():
        from sensor_msgs.msg import CameraInfo, Image
        from std_msgs.msg import String
        from tf2_msgs.msg import TFMessage

        first = instants[0][1]
        if with_tf:
            tf = TFMessage(
                transforms=[
                    conv.matrix_to_transform_stamped(
                        v.T_world_cam, "world", f"{v.name}_color_optical_frame", 0.0
                    )
                    for v in first
                ]
            )
            messages.append(("/tf_static", 0.0, tf))
        if with_objects:
            messages.append(
                ("/sim/objects", 0.0, String(data=json.dumps({str(k): v for k, v in OBJECTS.items()})))
            )
        for t, views in instants:
            for v in views:
                frame = f"{v.name}_color_optical_frame"
                base = f"/cameras/{v.name}/"
                messages.append(
                    (
                        base + "color/camera_info",
                        t,
                        conv.K_to_camera_info(v.K, v.width, v.height, frame, t, CameraInfo()),
                    )
                )
                messages.append((base + "color/image_raw", t, conv.rgb_to_image(v.rgb, frame, t, Image())))
                messages.append(
                    (
                        base + "aligned_depth_to_color/image_raw",
                        t + 0.002,
                        conv.depth_m_to_image(v.depth, frame, t + 0.002, Image()),
                    )
                )
                messages.append(
                    (
                        base + "segmentation/image_raw",
                        t,
                        conv.labels_to_image(v.segmentation, frame, t, Image()),
                    )
                )
        with Writer(path, version=9) as writer:
            connections = {}
            for topic, t, msg in messages:
                if topic not in connections:
                    connections[topic] = writer.add_connection(topic, msg._typename, typestore=STORE)
                data = STORE.serialize_cdr(_rosbags(msg), msg._typename)
                writer.write(connections[topic], round((t + 0.01) * 1e9), data)
    return path


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    """The simulator's fusion settings (no DINOv2), coarse voxels for speed."""
    path = tmp_path_factory.mktemp("params") / "nodes.yaml"
    path.write_text(
        "fusion_node:\n  ros__parameters:\n    feature_backend: none\n    fusion:\n      voxel_size_m: 0.01\n"
    )
    return path


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    instants = [(100.0, four_view_rig(_scene(), 64, 48)), (100.1, four_view_rig(_scene(dx=0.03), 64, 48))]
    return write_bag(tmp_path_factory.mktemp("bag") / "cams", instants)


def test_replay_writes_one_attention_picture_per_instant(bag, params, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        replay.main([str(bag), "--instruction", INSTRUCTION, "--out", str(out), "--params", str(params)]) == 0
    )
    pictures = sorted(p.name for p in out.glob("*.png"))
    assert pictures == ["attention_0000.png", "attention_0001.png"]
    printed = capsys.readouterr().out
    assert "#1 battery 'red battery'" in printed
    assert "#3 slot 'slot front-1'" in printed
    from PIL import Image

    with Image.open(out / "attention_0000.png") as image:
        assert image.size[0] > 100


def test_follow_finds_the_selection_on_a_moved_scene(bag):
    from codediffuser.import_bag import Bag

    with Bag(bag) as opened:
        frames = replay.BagFrames(opened, 0.05)
        clouds = []
        from codediffuser_perception.fusion import FusionConfig, fuse_views

        for views in frames:
            clouds.append(fuse_views(views, FusionConfig(voxel_size_m=0.01)))
        from codediffuser_codegen.oracle import metadata_detector

        first = [i for i in metadata_detector(frames.objects)(clouds[0], "battery") if i.id == 1]
        moved = replay.follow(first, clouds[0], clouds[1], frames.objects, None)
    assert moved[0].id == 1
    assert moved[0].centroid[0] - first[0].centroid[0] == pytest.approx(0.03, abs=0.01)


def test_bad_input_exit_codes(bag, params, tmp_path, capsys):
    common = ["--out", str(tmp_path), "--params", str(params)]
    assert replay.main([str(tmp_path / "nope"), "--instruction", INSTRUCTION, *common]) == 2
    assert "no such bag" in capsys.readouterr().err
    assert replay.main([str(bag), "--instruction", "juggle", *common]) == 1
    no_tf = write_bag(tmp_path / "no_tf", [(5.0, four_view_rig(_scene(), 32, 24))], with_tf=False)
    assert replay.main([str(no_tf), "--instruction", INSTRUCTION, *common]) == 1
    assert "give --rig" in capsys.readouterr().err
    assert replay.main([str(bag), "--instruction", INSTRUCTION, "--references", str(tmp_path), *common]) == 2
    assert "feature_backend: dinov2" in capsys.readouterr().err
    assert replay.main([str(bag), "--instruction", INSTRUCTION, "--fusion.voxel-size-m", "0", *common]) == 2
    assert "voxel_size_m must be > 0" in capsys.readouterr().err


def test_the_cli_dispatches_replay():
    from codediffuser import cli

    assert cli.resolve("replay") is replay.main
    assert np.isfinite(replay.DEFAULT_PARAMS.stat().st_size)
