"""The `exposure` command: serve the API, or correct / overexpose photo files and folders.

exposure serve --host 0.0.0.0 --port 8000
exposure correct photos/ extra.jpg -o corrected/
exposure simulate good/ -o overexposed/ --tau 0.5
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from app.photo_files import PhotoJob, Report, Transform, plan_jobs, run_jobs
from app.settings import Settings
from model import DEFAULT_GAMMA, DEFAULT_TAU


def _unit_interval(name: str) -> Callable[[str], float]:
    """An argparse type for 0 < value <= 1 whose error names the accepted range."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, not {text!r}") from None
        if not 0.0 < value <= 1.0:
            raise argparse.ArgumentTypeError(f"{name} must be in (0, 1], not {value}")
        return value

    return parse


def _ev(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 4.0:
        raise argparse.ArgumentTypeError(f"ev must be a number from 0 to 4, not {text!r}")
    return value


def _quality(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"quality must be an integer from 1 to 100, not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `exposure` command."""
    parser = argparse.ArgumentParser(
        prog="exposure", description="Correct overexposed photos with the exposure-gan model."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP service (uvicorn app.main:app)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")

    for name, help_text in (
        ("correct", "correct photo files and folders with the model"),
        ("simulate", "overexpose photo files and folders (SPEC section 1)"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="files or folders")
        sub.add_argument("-o", "--output", type=Path, required=True, help="output folder")
        sub.add_argument("--quality", type=_quality, help="JPEG/WebP quality (default 90)")
        if name == "correct":
            sub.add_argument("--checkpoint", type=Path, help="default: EXPOSURE_CHECKPOINT")
            sub.add_argument(
                "--estimator", type=Path, help="default: EXPOSURE_ESTIMATOR_CHECKPOINT"
            )
            sub.add_argument("--device", help="auto, cpu, cuda or cuda:N (EXPOSURE_DEVICE)")
            sub.add_argument(
                "--ev",
                type=_ev,
                help="stops of overexposure to take back (0-4); default: estimated per photo",
            )
        else:
            sub.add_argument("--tau", type=_unit_interval("tau"), default=DEFAULT_TAU)
            sub.add_argument("--gamma", type=_unit_interval("gamma"), default=DEFAULT_GAMMA)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run("app.main:app", host=args.host, port=args.port)
    return 0


def _correction(args: argparse.Namespace, settings: Settings) -> Transform:
    from app.processing import finish_correction, make_canvas
    from app.runtime import Runtime
    from model import choose_ev, load_estimator, load_generator
    from model.device import pick_device

    runtime = Runtime(pick_device(args.device or settings.device), settings.precision)
    loaded, _ = load_generator(args.checkpoint or settings.checkpoint, runtime.device)
    generator = runtime.place(loaded)
    estimator_path = args.estimator or settings.estimator_checkpoint
    estimator = None if args.ev is not None else load_estimator(estimator_path)[0]
    size = generator.config.working_size
    ev: float | None = args.ev

    def correct(color: np.ndarray) -> np.ndarray:
        canvas = make_canvas(color, size)
        choice = choose_ev(estimator, canvas, ev)
        (prediction,) = runtime.predict(
            generator, canvas.tensor[None], [choice.ev], [choice.source]
        )
        return finish_correction(color, canvas, prediction)

    return correct


def _simulation(args: argparse.Namespace) -> Transform:
    from app.processing import simulate_overexposure

    tau: float = args.tau
    gamma: float = args.gamma
    return lambda color: simulate_overexposure(color, tau, gamma)


def _progress(jobs: Iterable[PhotoJob]) -> Iterator[PhotoJob]:
    items = list(jobs)
    try:
        from tqdm import tqdm
    except ImportError:
        for i, job in enumerate(items, 1):
            print(f"[{i}/{len(items)}] {job.source}", file=sys.stderr)
            yield job
        return
    yield from tqdm(items, unit="photo", file=sys.stderr)


def _print_report(report: Report) -> None:
    print(f"{len(report.written)} written", file=sys.stderr)
    if report.ignored:
        print(f"{report.ignored} file(s) without a photo extension ignored", file=sys.stderr)
    if report.failed:
        print(f"{len(report.failed)} failed:", file=sys.stderr)
        for path, why in report.failed:
            print(f"  {path}: {why}", file=sys.stderr)


def _process_files(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        jobs, ignored = plan_jobs(args.inputs, args.output)
    except ValueError as exc:
        print(f"exposure {args.command}: {exc}", file=sys.stderr)
        return 2
    try:
        transform = _correction(args, settings) if args.command == "correct" else _simulation(args)
    except ValueError as exc:  # a missing or invalid checkpoint, an absent CUDA device
        print(f"exposure {args.command}: {exc}", file=sys.stderr)
        return 2
    report = run_jobs(jobs, transform, settings.max_pixels, args.quality, progress=_progress)
    report.ignored = ignored
    _print_report(report)
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `exposure` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    return _process_files(args)


if __name__ == "__main__":
    sys.exit(main())
