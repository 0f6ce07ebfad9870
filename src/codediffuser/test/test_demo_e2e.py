"""`codediffuser demo` end to end at tiny size: record → train → program → attention → rollout → files."""

import json
from pathlib import Path

import pytest
import torch

from codediffuser.demo import build_parser, main, run_demo
from codediffuser.e2e_policy import (
    ACCELERATOR_WORKERS,
    Recipe,
    RecipeError,
    resolve_checkpoint,
    slim_checkpoint,
)
from codediffuser_policy.checkpoint import load_checkpoint, load_policy

TINY = Recipe(
    episodes=1, record_points=64, model_preset="tiny", num_epochs=1, batch_size=4, lr_warmup_steps=1
)


@pytest.mark.render
@pytest.mark.slow
def test_demo_tiny_run_writes_every_file_and_a_real_verdict(shared_cache, tmp_path):
    out = tmp_path / "demo"
    args = build_parser().parse_args(["--out", str(out), "--max-steps", "3", "--no-shipped", "--quiet"])
    report = run_demo(args, TINY)

    for name in ("program.py", "composite.png", "attention.png", "attention_final.png", "episode.mp4"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "episode.mp4").read_bytes()[4:8] == b"ftyp"
    assert "attend(" in (out / "program.py").read_text()
    result = json.loads((out / "result.json").read_text())
    assert result["success"] in (True, False)
    assert result["steps"] >= 1
    assert result["grounding_correct"] is True  # the offline generator grounds the simulator's grammar
    assert "trained now" in result["checkpoint"]
    text = (out / "report.md").read_text()
    assert ("**success**" in text) == report.success
    assert "policy rollout" in text
    assert "| total |" in text

    # The second run finds the cached checkpoint instead of training again.
    path, source = resolve_checkpoint("pack_battery", None, TINY, progress=False, use_shipped=False)
    assert path.is_file()
    assert source.startswith("cached")

    # A shipped copy keeps only the EMA weights, in half precision, and still loads as a ready policy:
    # the weights within float16 rounding of the full checkpoint's, the normaliser exactly.
    slim = slim_checkpoint(path, tmp_path / "shipped" / "policy.pt")
    assert slim.stat().st_size < path.stat().st_size
    assert "optimizer" not in load_checkpoint(slim)
    shipped, full = load_policy(slim), load_policy(path)
    assert shipped.config == full.config
    for (name, value), reference in zip(
        shipped.state_dict().items(), full.state_dict().values(), strict=True
    ):
        assert value.dtype == reference.dtype, name
        if name.startswith("normalizer."):
            assert torch.equal(value, reference), name
        else:
            torch.testing.assert_close(value, reference, rtol=1e-3, atol=1e-4, msg=name)


def test_missing_explicit_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        resolve_checkpoint("pack_battery", tmp_path / "nope.pt", TINY)


def test_demo_refuses_bad_arguments(capsys):
    assert main(["--max-steps", "0"]) == 2
    assert "--max-steps" in capsys.readouterr().err


def test_recipe_keys_separate_runs_but_share_data(monkeypatch):
    baseline = Recipe(**{**TINY.__dict__, "use_attention": False})
    assert TINY.key() != baseline.key()
    assert TINY.data_key() == baseline.data_key()
    more = Recipe(**{**TINY.__dict__, "record_points": 128})
    assert more.data_key() != TINY.data_key()
    # A new recording version retires every cached store and every policy trained on one.
    old_key, old_data = TINY.key(), TINY.data_key()
    monkeypatch.setattr("codediffuser.e2e_policy.RECORDING_VERSION", -1)
    assert TINY.data_key() != old_data
    assert TINY.key() != old_key
    assert "--no-use-attention" in baseline.command(Path("d"), Path("o"))


def test_recipe_trains_on_the_device_asked_for_without_changing_its_key():
    key = TINY.key()
    on_cpu = TINY.train_config(Path("d"), Path("o"))
    on_gpu = TINY.train_config(Path("d"), Path("o"), device="cuda")
    assert (on_cpu.device, on_cpu.num_workers) == ("cpu", 0)
    assert (on_gpu.device, on_gpu.num_workers) == ("cuda", ACCELERATOR_WORKERS)
    assert "--device cuda" in TINY.command(Path("d"), Path("o"), device="cuda")
    assert "--device" not in TINY.command(Path("d"), Path("o"))
    assert TINY.key() == key


def test_a_recipe_mirrors_only_the_mirror_symmetric_tasks():
    mirrored = Recipe(mirror=True)
    assert mirrored.for_task("pack_battery").mirror
    assert mirrored.for_task("stow_books").mirror
    hang_mug = mirrored.for_task("hang_mug")  # handles always point towards +x
    assert (hang_mug.task, hang_mug.mirror) == ("hang_mug", False)
    assert not Recipe(mirror=False).for_task("pack_battery").mirror
    with pytest.raises(RecipeError, match="unknown task 'juggle'"):
        mirrored.for_task("juggle")
