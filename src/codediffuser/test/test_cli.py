import subprocess
import sys

import pytest

from codediffuser import cli


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in cli.SUBCOMMANDS:
        assert name in out


def test_unknown_subcommand_is_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["fly"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_dispatch_passes_remaining_arguments(monkeypatch):
    seen = {}

    def fake_main(argv):
        seen["argv"] = argv
        return 3

    monkeypatch.setattr(cli, "resolve", lambda name: fake_main)
    assert cli.main(["train", "--data", "x.zarr"]) == 3
    assert seen["argv"] == ["--data", "x.zarr"]


def test_missing_capability_says_so_instead_of_pretending(monkeypatch, capsys):
    monkeypatch.setitem(cli.SUBCOMMANDS, "demo", cli.Subcommand("codediffuser.not_a_module:main", "x"))
    assert cli.main(["demo"]) == 2
    assert "not yet implemented" in capsys.readouterr().err


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "codediffuser.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: codediffuser" in out.stdout
