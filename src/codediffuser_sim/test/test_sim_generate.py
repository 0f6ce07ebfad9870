import numpy as np
import pytest
import zarr

from codediffuser_sim.generate import main


@pytest.mark.slow
@pytest.mark.render
def test_generate_writes_the_dataset_format_and_resumes(tmp_path, capsys):
    out = tmp_path / "pb.zarr"
    args = [
        "--task",
        "pack_battery",
        "--out",
        str(out),
        "--width",
        "64",
        "--height",
        "48",
        "--n-points",
        "128",
    ]
    assert main([*args, "--episodes", "1", "--level", "target"]) == 0
    assert "episodes/s" in capsys.readouterr().out
    assert main([*args, "--episodes", "2", "--level", "target"]) == 0
    assert "1 new" in capsys.readouterr().out
    root = zarr.open_group(str(out), mode="r")
    ends = root["meta/episode_ends"][:]
    episodes = root["meta"].attrs["episodes"]
    assert len(ends) == 2
    assert [e["seed"] for e in episodes] == [0, 1]
    assert all(e["success"] and e["level"] == "target" for e in episodes)
    assert all(len(e["attended"]) == 2 for e in episodes)
    points = root["data/point_cloud"][:]
    attention = root["data/attention"][:]
    assert points.shape == (ends[-1], 128, 3)
    assert root["data/action"].shape == (ends[-1], 20)
    assert root["data/joint_pos"].shape == (ends[-1], 14)
    # The attended battery and slot are seen: some attention, not all of it.
    assert 0 < attention.mean() < 0.5
    assert set(np.unique(attention)) <= {0.0, 1.0}
    assert np.all(points[..., 2] >= 0.004 - 1e-6)
    # Pack Battery's crop box stops at its `crop_top_m`: the arms above it are left out.
    assert root.attrs["workspace_max"][2] == pytest.approx(0.2)
    assert points[..., 2].max() <= 0.2 + 1e-6
    # The last action of an episode opens the gripper of the arm that worked (release).
    last = root["data/action"][ends[0] - 1]
    assert max(last[9], last[19]) == pytest.approx(1.0)


def test_generate_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["--task", "no_such_task"])
    assert main(["--task", "pack_battery", "--episodes", "0"]) == 2


def test_sim_yaml_is_the_dataclass_schema(tmp_path):
    from pathlib import Path

    from codediffuser_sim.config import load_sim_config
    from codediffuser_sim.env import SimError

    repo_config = Path(__file__).resolve().parents[3] / "config" / "sim.yaml"
    sim, record = load_sim_config(repo_config)
    assert sim.substeps == 50
    assert sim.camera_config.is_file()
    assert record.n_points == 1024
    assert record.workspace_min[2] > 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("sim:\n  physics_hz: 500\n  control_rate: 10\n")
    with pytest.raises(SimError, match="control_rate"):
        load_sim_config(bad)
    bad.write_text("sim:\n  physics_hz: 500\n  control_hz: 7\n")
    with pytest.raises(SimError, match="multiple"):
        load_sim_config(bad)


def test_task_record_config_only_lowers_the_crop_top():
    from types import SimpleNamespace

    from codediffuser_sim.record import RecordConfig, task_record_config

    config = RecordConfig(n_points=64)
    lowered = task_record_config(config, SimpleNamespace(name="t", crop_top_m=0.2))
    assert lowered.workspace_max == (0.4, 0.3, 0.2)
    assert lowered.fusion.workspace_max == (0.4, 0.3, 0.2)
    assert lowered.workspace_min == config.workspace_min
    assert lowered.n_points == 64
    assert task_record_config(config, SimpleNamespace(name="t", crop_top_m=None)) is config
    assert task_record_config(config, SimpleNamespace(name="t", crop_top_m=0.9)) is config
    with pytest.raises(ValueError, match="below the box"):
        task_record_config(config, SimpleNamespace(name="t", crop_top_m=0.001))
