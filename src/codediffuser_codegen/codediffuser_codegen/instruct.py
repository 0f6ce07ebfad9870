"""`codediffuser instruct "<instruction>" --observation <file.npz>`: one instruction on a saved observation.

Prints the program and the selected instances, and writes two pictures into `--out`:
`attention.png` (the cloud seen from above and from the front, coloured by attention) and, when the
observation has camera views, `composite.png` (the views with the attended instances' numbered boxes,
the picture a VLM sees for `sel_name`). The observation format is documented in
`codediffuser_codegen.observation`.

Backends: the program comes from the offline generator unless `--model` names a VLM on an
OpenAI-compatible endpoint (`--base-url`, key in CODEDIFFUSER_LLM_API_KEY or OPENAI_API_KEY), which then
also answers `sel_name` from the composite image. `detect` groups points by the observation's simulator
object ids, or, with `--references DIR` (a `codediffuser annotate` reference store) and a cloud with
features, runs the reference-feature detector.
Exit status: 0 when instances were selected, 1 when the instruction failed (the reason is printed),
2 for unusable arguments or files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from codediffuser_codegen.api import PerceptionAPI
from codediffuser_codegen.backends import feature_detector
from codediffuser_codegen.composite import composite_image
from codediffuser_codegen.observation import load_observation
from codediffuser_codegen.oracle import match_metadata, metadata_detector, with_object_metadata
from codediffuser_codegen.pipeline import InstructResult, OfflineWriter, instance_attention, run_instruction
from codediffuser_codegen.sandbox import Sandbox
from codediffuser_perception.types import Attention, FeatureCloud, PerceptionError


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `codediffuser instruct`."""
    parser = argparse.ArgumentParser(
        prog="codediffuser instruct",
        description="Run one instruction on a saved observation and show the program.",
    )
    parser.add_argument("instruction", help='e.g. "hang the blue mug on the left branch"')
    parser.add_argument(
        "--observation",
        required=True,
        type=Path,
        help="observation .npz (format: codediffuser_codegen.observation)",
    )
    parser.add_argument("--out", type=Path, default=Path("instruct_out"), help="folder for the pictures")
    parser.add_argument("--references", type=Path, help="reference store for the feature detector")
    parser.add_argument("--model", help="VLM model name; default: the offline generator")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1")
    parser.add_argument("--api-key-env", help="environment variable holding the key")
    parser.add_argument("--timeout-s", type=float, default=60.0, help="per-request timeout of the VLM")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `codediffuser instruct` (see the module docstring)."""
    args = build_parser().parse_args(argv)
    try:
        obs = load_observation(args.observation)
    except PerceptionError as exc:
        print(f"codediffuser instruct: {exc}", file=sys.stderr)
        return 2
    has_metadata = bool(obs.objects) and obs.cloud.object_ids is not None
    if args.references is not None:
        from codediffuser_perception.references import ReferenceStore

        try:
            detect_backend = feature_detector(ReferenceStore.load(args.references))
        except (PerceptionError, OSError) as exc:
            print(f"codediffuser instruct: {exc}", file=sys.stderr)
            return 2
        if has_metadata:
            detect_backend = with_object_metadata(detect_backend, obs.objects)
    elif has_metadata:
        detect_backend = metadata_detector(obs.objects)
    else:
        print(
            "codediffuser instruct: the observation has no object metadata (objects + object_ids); give "
            "--references for the feature detector",
            file=sys.stderr,
        )
        return 2
    if not has_metadata and not args.model:
        print(
            "codediffuser instruct: without object metadata, sel_name needs a VLM (--model)", file=sys.stderr
        )
        return 2
    writer, name_backend = OfflineWriter(), match_metadata
    if args.model:
        from codediffuser_codegen.llm import LlmClient, LlmConfig, LlmError, LlmProgramWriter, VlmNameSelector

        try:
            config = LlmConfig(
                model=args.model,
                base_url=args.base_url,
                api_key_env=args.api_key_env,
                timeout_s=args.timeout_s,
            )
            client = LlmClient(config)
        except (LlmError, ValueError) as exc:
            print(f"codediffuser instruct: {exc}", file=sys.stderr)
            return 2
        writer, name_backend = LlmProgramWriter(client), VlmNameSelector(client)
    api = PerceptionAPI(obs.cloud, detect_backend, name_backend)
    result = run_instruction(args.instruction, api, writer, Sandbox())
    report(result)
    if not result.success:
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    attention = instance_attention(obs.cloud, result.attended)
    save_attention_png(args.out / "attention.png", obs.cloud, attention, title=args.instruction)
    print(f"wrote {args.out / 'attention.png'}")
    if obs.cloud.views:
        try:
            composite_image(obs.cloud, result.attended).save(args.out / "composite.png")
            print(f"wrote {args.out / 'composite.png'}")
        except PerceptionError as exc:
            print(f"no composite image: {exc}")
    return 0


def report(result: InstructResult) -> None:
    """Print the program, the selected instances and the outcome."""
    print(f"instruction: {result.instruction}")
    print(f"task: {result.task or 'unknown'}")
    if result.program:
        print("program:")
        print("\n".join(f"    {line}" for line in result.program.rstrip().splitlines()))
    for line in result.log:
        print(f"  | {line}")
    if result.success:
        print("selected (attend order):")
        for inst in result.attended:
            x, y, z = (float(v) for v in inst.centroid)
            name = inst.metadata.get("name", inst.category)
            print(f"  #{inst.id} {inst.category} {name!r} at ({x:+.3f}, {y:+.3f}, {z:+.3f}) m")
    else:
        print(f"FAILED ({result.error_type or 'error'}): {result.message}", file=sys.stderr)


def save_attention_png(path: Path, cloud: FeatureCloud, attention: Attention, title: str = "") -> None:
    """Top (x-y) and front (x-z) views of the cloud, coloured by attention (world frame, metres)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts, values = cloud.points, attention.values
    order = np.argsort(values, kind="stable")  # attended points drawn last, on top
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), constrained_layout=True)
    for ax, (i, j, label) in zip(axes, ((0, 1, "top view: y (m)"), (0, 2, "front view: z (m)")), strict=True):
        sc = ax.scatter(
            pts[order, i], pts[order, j], c=values[order], s=4, cmap="inferno", vmin=0.0, vmax=1.0
        )
        ax.set_xlabel("x (m), left → right")
        ax.set_ylabel(label)
        ax.set_aspect("equal", adjustable="datalim")
    fig.colorbar(sc, ax=axes, label="attention")
    fig.suptitle(title)
    fig.savefig(path, dpi=100)
    plt.close(fig)
