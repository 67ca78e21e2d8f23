"""A contact sheet of a checkpoint's corrections, to look at colour rings and casts by eye.

    python -m training.contact_sheet --checkpoint CKPT --pairs DIR [--pairs-csv CSV --told]
        [--photos DIR --scenario c] [--uploads DIR] --out sheet.jpg [--limit N] [--height 240]
        [--width W]

One row per image: input | output | target, each resized to the row height, with a thin gap.
For real pairs the input and target are the stored frames; for photos the input is the photo
degraded as SPEC section 2's scenario says, and the target is the photo itself. `--uploads`
adds real overexposed photos that have no target: input | output. Outputs are blind (the
exposure estimator's EV) unless `--told` gives each pair and photo its true EV (a pair's from
`--pairs-csv`); uploads are always blind, as nobody knows theirs.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from model import correct_images, load_estimator, load_generator
from model.estimator import SHIPPED_ESTIMATOR
from training.command import command_parser
from training.scenarios import (
    SCENARIOS,
    Case,
    load_photos,
    pair_cases,
    read_pair_evs,
    scenario_cases,
)

GAP = 4
BACKGROUND = (48, 48, 48)  # dark neutral grey: does not tint how the panels look


def _panel(image: np.ndarray, height: int) -> Image.Image:
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS)


def sheet_row(panels: Sequence[np.ndarray], height: int) -> Image.Image:
    """The panels side by side at one height, `GAP` pixels apart."""
    resized = [_panel(p, height) for p in panels]
    row = Image.new("RGB", (sum(p.width for p in resized) + GAP * (len(resized) - 1), height))
    row.paste(BACKGROUND, (0, 0, row.width, height))
    x = 0
    for panel in resized:
        row.paste(panel, (x, 0))
        x += panel.width + GAP
    return row


def contact_sheet(rows: Iterable[Image.Image], max_width: int | None = None) -> Image.Image:
    """Rows stacked `GAP` pixels apart; rows wider than `max_width` are scaled down to fit."""
    fitted = []
    for row in rows:
        if max_width is not None and row.width > max_width:
            height = max(1, round(row.height * max_width / row.width))
            row = row.resize((max_width, height), Image.Resampling.LANCZOS)
        fitted.append(row)
    if not fitted:
        raise ValueError("no images for the contact sheet")
    width = max(r.width for r in fitted)
    sheet = Image.new("RGB", (width, sum(r.height for r in fitted) + GAP * (len(fitted) - 1)))
    sheet.paste(BACKGROUND, (0, 0, *sheet.size))
    y = 0
    for row in fitted:
        sheet.paste(row, (0, y))
        y += row.height + GAP
    return sheet


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: writes the sheet."""
    parser = command_parser("training.contact_sheet", __doc__)
    parser.add_argument("--checkpoint", type=Path, required=True, help="generator checkpoint")
    parser.add_argument("--estimator", type=Path, default=SHIPPED_ESTIMATOR, help="its EVs")
    parser.add_argument("--pairs", type=Path, help="folder of real pairs: input/ and target/")
    parser.add_argument("--pairs-csv", type=Path, help="the pairs' EVs (columns name, ev)")
    parser.add_argument("--told", action="store_true", help="correct told the true EV")
    parser.add_argument("--uploads", type=Path, help="folder of overexposed photos, no targets")
    parser.add_argument("--photos", type=Path, help="folder of correctly exposed photos")
    parser.add_argument("--scenario", choices=SCENARIOS, default="c", help="for --photos")
    parser.add_argument("--out", type=Path, required=True, help="image file to write")
    parser.add_argument("--limit", type=int, help="at most N images from each folder")
    parser.add_argument("--height", type=int, default=240, help="row height in pixels")
    parser.add_argument("--width", type=int, help="scale rows down to at most W pixels wide")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = parser.parse_args(argv)
    if args.pairs is None and args.photos is None and args.uploads is None:
        parser.error("give --pairs, --photos or --uploads")
    if args.told and args.pairs is not None and args.pairs_csv is None:
        parser.error("--told with --pairs needs --pairs-csv for their EVs")
    if args.height < 1 or (args.width is not None and args.width < 1):
        parser.error("--height and --width must be positive")
    try:
        generator, _ = load_generator(args.checkpoint, args.device)
        estimator, _ = load_estimator(args.estimator)
        cases: Iterable[Case] = ()
        if args.pairs is not None:
            evs = read_pair_evs(args.pairs_csv) if args.pairs_csv else None
            cases = pair_cases(args.pairs, evs, limit=args.limit)
        if args.photos is not None:
            photos = load_photos(args.photos, args.limit)
            cases = itertools.chain(cases, scenario_cases(args.scenario, photos))

        def corrected(image: np.ndarray, ev: float | None) -> np.ndarray:
            return correct_images(generator, [image], evs=[ev], estimator=estimator)[0]

        rows = itertools.chain(
            (
                sheet_row(
                    [c.input, corrected(c.input, c.ev if args.told else None), c.truth],
                    args.height,
                )
                for c in cases
            ),
            (
                sheet_row([photo, corrected(photo, None)], args.height)
                for _, photo in (load_photos(args.uploads, args.limit) if args.uploads else [])
            ),
        )
        sheet = contact_sheet(rows, args.width)
    except (ValueError, FileNotFoundError) as exc:  # ValueError includes CheckpointError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=92)  # the quality applies to JPEG and WebP sheets only
    print(f"wrote {args.out}: {sheet.width}x{sheet.height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
