"""Scores a checkpoint on SPEC section 2's scenarios and on real pairs, one table per set.

    python -m training.evaluate --data PHOTOS [--scenario all] [--pairs DIR [--pairs-csv CSV]]
        [--checkpoint CKPT [--estimator EST] [--with-ev]] [--out DIR]
    python -m training.evaluate --collections PHOTOS... --checkpoint CKPT \
        --estimators LOCO_DIR [--psnr-limit N]

Simulated scenarios print identity and the told-truth inverse; real pairs print identity and
the oracles fitted to the target (`training.oracles`). With a checkpoint, its blind output
(told the exposure estimator's EV), and with `--with-ev` its output told the true EV. Below
each table, where inputs have areas with every channel clipped: how bright each row brings them
back against the target (`training.clipped_regions`), and every row's squared error split by how
near the clip each input pixel was (`training.clip_bands`). `--collections` prints the
per-collection table instead (training.by_collection): each collection's N and C cases blind,
with the estimator trained with that collection held out.
`bench/http_eval.py` drives the same cases and tables through the HTTP service.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from model import correct_images, load_estimator, load_generator
from model.estimator import SHIPPED_ESTIMATOR
from training.by_collection import collection_report
from training.clip_bands import BandErrors, band_errors, band_of_pixels, format_band_table
from training.clipped_regions import EDGE_PX, MIN_REGION, RegionScores, region_scores
from training.command import command_parser, exit_status
from training.metrics import Scores, mean_scores, score
from training.oracles import oracle_outputs
from training.scenarios import (
    SCENARIOS,
    Case,
    load_photos,
    pair_cases,
    read_pair_evs,
    scenario_cases,
)

# A correction under test: the outputs for one case, one per EV it is told (None: blind).
Corrector = Callable[[Case, Sequence[float | None]], list[np.ndarray]]

# (header, Scores field, decimals), as SPEC's baseline table prints them.
COLUMNS = (
    ("PSNR", "psnr", 2),
    ("SSIM", "ssim", 4),
    ("lum", "lum", 2),
    ("con", "con", 2),
    ("sat", "sat", 2),
    ("ΔE00", "delta_e00", 2),
)
LABELS = {
    "identity": "identity (input returned)",
    "inverse": "told-truth inverse",
    "gain_oracle": "best single gain (oracle)",
    "curve_oracle": "best monotone curve per channel (oracle)",
    "shared_curve_oracle": "best monotone curve shared by R, G, B (oracle)",
    "blind": "checkpoint (blind)",
    "told_ev": "checkpoint, told ev",
}


def reference_outputs(case: Case) -> dict[str, np.ndarray]:
    """The rows that need no model: identity, then the told-truth inverse or the oracles."""
    outputs = {"identity": case.input}
    if case.baseline is not None:
        outputs["inverse"] = case.baseline
    else:
        outputs |= oracle_outputs(case.input, case.truth)
    return outputs


def score_cases(
    cases: Iterable[Case],
    correct: Corrector | None = None,
    with_ev: bool = False,
    out: Path | None = None,
    samples: int | None = None,
    regions: dict[str, list[RegionScores]] | None = None,
    bands: dict[str, list[BandErrors]] | None = None,
) -> dict[str, Scores]:
    """Mean scores per row over `cases`; side-by-sides (input | each row | truth) into `out`;
    each row's scores in the input's fully clipped regions appended to `regions`, and its
    squared error by clip band (training.clip_bands) to `bands`, where given."""
    per_row: dict[str, list[Scores]] = {}
    for index, case in enumerate(cases):
        outputs = reference_outputs(case)
        if correct is not None:
            if with_ev and case.ev is None:
                raise ValueError(f"{case.name}: no true ev to tell the checkpoint")
            evs: list[float | None] = [None, case.ev] if with_ev else [None]
            outputs.update(zip(("blind", "told_ev"), correct(case, evs), strict=False))
        pixel_bands = band_of_pixels(case.input) if bands is not None else None
        for row, image in outputs.items():
            per_row.setdefault(row, []).append(score(case.truth, image))
            if regions is not None and (found := region_scores(case.input, image, case.truth)):
                regions.setdefault(row, []).append(found)
            if bands is not None and pixel_bands is not None:
                bands.setdefault(row, []).append(band_errors(pixel_bands, image, case.truth))
        if out is not None and (samples is None or index < samples):
            out.mkdir(parents=True, exist_ok=True)
            panels = [case.input, *list(outputs.values())[1:], case.truth]
            name = Path(case.name).with_suffix("").as_posix().replace("/", "__")
            Image.fromarray(np.concatenate(panels, axis=1)).save(out / f"{name}.png")
    if not per_row:
        raise ValueError("no images to score")
    return {row: mean_scores(scores) for row, scores in per_row.items()}


def format_table(results: dict[str, Scores]) -> str:
    """SPEC section 2's table as markdown, one row per method."""
    lines = ["| method | " + " | ".join(c[0] for c in COLUMNS) + " |"]
    lines.append("|---|" + "---:|" * len(COLUMNS))
    for method, scores in results.items():
        values = scores.as_dict()
        cells = " | ".join(f"{values[key]:.{digits}f}" for _, key, digits in COLUMNS)
        lines.append(f"| {LABELS.get(method, method)} | {cells} |")
    return "\n".join(lines)


def format_region_table(regions: dict[str, list[RegionScores]]) -> str:
    """Per row, over the images with fully clipped regions: mean luminance there (target,
    output), the output's mean and mean absolute difference from the target's per image, and
    the mean absolute error in 8-bit levels."""
    lines = [
        f"Where every channel clipped (regions of at least {MIN_REGION} px):",
        "| method | images | target lum | output lum | diff | abs diff | MAE levels |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for method, found in regions.items():
        target = np.array([r.target_luminance for r in found])
        output = np.array([r.output_luminance for r in found])
        mae = np.mean([r.mae_levels for r in found])
        lines.append(
            f"| {LABELS.get(method, method)} | {len(found)} | {target.mean():.3f} "
            f"| {output.mean():.3f} | {np.mean(output - target):+.3f} "
            f"| {np.mean(np.abs(output - target)):.3f} | {mae:.1f} |"
        )
    lines += [
        "",
        f"At their edges: mean luminance within {EDGE_PX} px inside minus within {EDGE_PX} px "
        "outside, per image:",
        "| method | images | target step | output step | diff |",
        "|---|---:|---:|---:|---:|",
    ]
    for method, found in regions.items():
        steps = np.array([(r.target_step, r.output_step) for r in found])
        steps = steps[~np.isnan(steps).any(axis=1)]
        if not len(steps):
            continue
        target_step, output_step = steps.mean(axis=0)
        lines.append(
            f"| {LABELS.get(method, method)} | {len(steps)} | {target_step:+.3f} "
            f"| {output_step:+.3f} | {output_step - target_step:+.3f} |"
        )
    return "\n".join(lines)


def add_case_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the cases and what to report, shared with bench/http_eval.py."""
    parser.add_argument("--data", type=Path, help="folder of ground-truth photos (scenarios)")
    parser.add_argument(
        "--scenario", choices=(*SCENARIOS, "all"), default="all", help="scenario(s) of --data"
    )
    parser.add_argument("--pairs", type=Path, help="folder of real pairs: input/ and target/")
    parser.add_argument("--pairs-csv", type=Path, help="CSV with columns name, ev for --pairs")
    parser.add_argument("--with-ev", action="store_true", help="also a row told the true ev")
    parser.add_argument("--out", type=Path, help="folder for side-by-side PNGs and results.json")
    parser.add_argument("--samples", type=int, help="write side-by-sides for the first N only")
    parser.add_argument("--limit", type=int, help="use only the first N photos / pairs")
    parser.add_argument("--upscale", type=int, default=1, help="upscale --data photos K times")


def check_case_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exits with a usage message where the case options do not fit together."""
    if args.data is None and args.pairs is None:
        parser.error("give --data (scenarios on photos), --pairs (real pairs), or both")
    if args.upscale < 1:
        parser.error("--upscale must be a positive integer")
    if args.pairs_csv is not None and args.pairs is None:
        parser.error("--pairs-csv goes with --pairs")


def case_sets(args: argparse.Namespace) -> Iterator[tuple[str, str, Iterable[Case], bool]]:
    """(key, title, cases, told ev) for each set the options name, cases made lazily."""
    if args.data is not None:
        photos = load_photos(args.data, args.limit, args.upscale)
        chosen = SCENARIOS if args.scenario == "all" else (args.scenario,)
        for scenario in chosen:
            title = f"scenario {scenario.upper()}: {args.data}, {len(photos)} photos"
            yield scenario, title, scenario_cases(scenario, photos), args.with_ev
    if args.pairs is not None:
        evs = read_pair_evs(args.pairs_csv) if args.pairs_csv is not None else None
        told = args.with_ev and evs is not None
        yield "pairs", f"real pairs: {args.pairs}", pair_cases(args.pairs, evs, args.limit), told


def run(
    args: argparse.Namespace,
    correct: Corrector | None,
    footer: Callable[[str], str] | None = None,
) -> dict[str, dict[str, Scores]]:
    """Scores and prints every set the options name; `footer(key)` adds lines below a table."""
    report: dict[str, dict[str, Scores]] = {}
    for key, title, cases, told in case_sets(args):
        out = args.out / key if args.out is not None else None
        regions: dict[str, list[RegionScores]] = {}
        bands: dict[str, list[BandErrors]] = {}
        report[key] = score_cases(cases, correct, told, out, args.samples, regions, bands)
        print(f"\n{title}\n{format_table(report[key])}", flush=True)
        if regions:
            print(f"\n{format_region_table(regions)}", flush=True)
        print(f"\n{format_band_table(bands, LABELS)}", flush=True)
        if footer is not None and (extra := footer(key)):
            print(extra, flush=True)
    if args.out is not None:
        results = {k: {row: s.as_dict() for row, s in r.items()} for k, r in report.items()}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return report


def model_corrector(
    checkpoint: Path, device: str = "cpu", estimator_path: Path = SHIPPED_ESTIMATOR
) -> Corrector:
    """The checkpoint's corrections, computed in-process: one batch per case; blind ones are
    told the estimator's EV."""
    generator, _ = load_generator(checkpoint, device)
    estimator, _ = load_estimator(estimator_path)

    def correct(case: Case, evs: Sequence[float | None]) -> list[np.ndarray]:
        return correct_images(generator, [case.input] * len(evs), evs=evs, estimator=estimator)

    return correct


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: prints one table per scenario and for the pairs."""
    parser = command_parser("training.evaluate", __doc__)
    add_case_arguments(parser)
    parser.add_argument("--checkpoint", type=Path, help="generator checkpoint (.safetensors)")
    parser.add_argument("--estimator", type=Path, default=SHIPPED_ESTIMATOR, help="blind EVs")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--collections", type=Path, nargs="+", help="per-collection table")
    parser.add_argument(
        "--estimators", type=Path, help="with --collections: COLLECTION.safetensors, each held out"
    )
    parser.add_argument(
        "--psnr-limit",
        type=int,
        help="with --collections: PSNR on the first N of each (default: every photo)",
    )
    parser.add_argument(
        "--overshoot", type=float, help="with --collections: the decision's overshoot scale"
    )
    args = parser.parse_args(argv)
    if args.collections is not None:
        if args.checkpoint is None or args.estimators is None:
            parser.error("--collections needs --checkpoint and --estimators")
        return exit_status(
            lambda: print(
                collection_report(
                    args.collections,
                    args.checkpoint,
                    args.estimators,
                    args.psnr_limit,
                    args.overshoot,
                )
            )
        )
    check_case_arguments(parser, args)

    def evaluate() -> None:
        correct = (
            model_corrector(args.checkpoint, args.device, args.estimator)
            if args.checkpoint
            else None
        )
        run(args, correct)

    return exit_status(evaluate)


if __name__ == "__main__":
    sys.exit(main())
