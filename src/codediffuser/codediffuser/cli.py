"""The `codediffuser` command: one entry point, one subcommand per workflow step.

Each subcommand lives in the package that owns the capability and exposes `main(argv) -> int`; this
module only dispatches, importing the owner lazily so that `codediffuser --help` stays instant and a
light command never pays for torch or SAPIEN.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Subcommand:
    """Where a subcommand is implemented and what it does (one line for `--help`)."""

    target: str
    summary: str


SUBCOMMANDS: dict[str, Subcommand] = {
    "demo": Subcommand(
        "codediffuser.demo:main", "instruction → program → 3D attention → policy rollout in SAPIEN"
    ),
    "generate": Subcommand(
        "codediffuser_sim.generate:main", "record scripted demonstrations to a zarr dataset"
    ),
    "train": Subcommand("codediffuser_policy.train:main", "train the attention-conditioned diffusion policy"),
    "eval": Subcommand("codediffuser.evaluate:main", "success per task and ambiguity level, with baselines"),
    "annotate": Subcommand(
        "codediffuser_perception.annotate:main", "store reference features for a category (labelling step)"
    ),
    "instruct": Subcommand(
        "codediffuser_codegen.instruct:main", "run one instruction on a saved observation, print the program"
    ),
    "calibrate": Subcommand(
        "codediffuser.calibrate:main", "camera extrinsics from a ChArUco board → config/cameras.yaml"
    ),
    "import-bag": Subcommand(
        "codediffuser.import_bag:main", "ALOHA teleoperation bags → the zarr dataset format"
    ),
    "label": Subcommand("codediffuser.label:main", "label episodes: instruction and attended instances"),
    "replay": Subcommand(
        "codediffuser.replay:main", "feed a camera bag through fusion → instruct → attention"
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; subcommand options are parsed by each subcommand's own `main`."""
    parser = argparse.ArgumentParser(
        prog="codediffuser",
        description="CodeDiffuser: ambiguous instructions → VLM-written code → 3D attention → diffusion policy.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, spec in SUBCOMMANDS.items():
        sub.add_parser(name, help=spec.summary, add_help=False)
    return parser


def resolve(name: str):
    """Import the subcommand's `main`; a missing module means that capability has not landed yet."""
    module_name, func_name = SUBCOMMANDS[name].target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, func_name)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch `codediffuser COMMAND [options]` to the owning package."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv)  # prints help or the "invalid choice" error and exits
        return 2
    name, rest = argv[0], argv[1:]
    command = resolve(name)
    if command is None:
        print(f"codediffuser {name}: not yet implemented in this version", file=sys.stderr)
        return 2
    return int(command(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
