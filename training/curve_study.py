"""What real tone curves look like: the best curve shared by R, G and B, fitted to each pair.

    python -m training.curve_study --pairs ../shared/data/brackets/train \\
        --pairs-csv ../shared/data/brackets/pairs.csv [--plot curves.png]

For each real pair (an overexposed frame and a good one of the same scene) the least-squares
monotone table from the frame's codes to the target's, shared by the channels (what a global
correction can do without tinting), set against the camera inverse of SPEC section 1b at the
pair's EV (sRGB's curve, `ev` stops darker in linear light). It prints a table of how each
fitted curve differs from that inverse, and with --plot draws every fitted curve beside the
synthetic camera family that training draws from (training/degrade.py), at the same EVs.

Columns: `mid EV` is the darkening the fitted curve applies to mid-tones (codes 64-192), in
stops of linear light as sRGB reads them; `contrast` its mid-tone slope over the inverse's at
that same EV (above 1: steeper, more contrast); `top` where the frame's clipped white (code
255) lands; `roll-off` the curve's rise from code 200 to 250 over the inverse's; the PSNRs:
the fitted curve and the inverse at the pair's EV, each applied to the frame.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from model import linear_to_srgb, srgb_to_linear
from training.command import command_parser, exit_status
from training.data import load_brackets
from training.degrade import ToneCurve, filmic_curve, gamma_curve, srgb_curve
from training.oracles import apply_curves, best_curves

CODES = np.arange(256, dtype=np.float64)
MID = slice(64, 193)


@dataclass(frozen=True)
class CurveFit:
    name: str
    ev: float
    lut: np.ndarray  # (256,) float: the fitted shared table
    psnr_curve: float
    psnr_inverse: float


def camera_inverse(ev: float) -> np.ndarray:
    """SPEC section 1b's told-truth inverse as a table over 8-bit codes."""
    return np.asarray(linear_to_srgb(srgb_to_linear(CODES / 255.0) / 2.0**ev) * 255.0)


def mid_ev(lut: np.ndarray) -> float:
    """Stops of linear-light darkening the table applies to mid-tones (median over codes)."""
    inp = srgb_to_linear(CODES[MID] / 255.0)
    out = srgb_to_linear(np.maximum(lut[MID], 0.5) / 255.0)
    return float(np.median(np.log2(inp / out)))


def slope(lut: np.ndarray, low: int, high: int) -> float:
    return float((lut[high] - lut[low]) / (high - low))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float(min(60.0, 10 * np.log10(255.0**2 / max(mse, 1e-12))))


def fit_pairs(root: Path, csv_path: Path | None, max_side: int = 768) -> list[CurveFit]:
    """The fitted curve of every pair under `root` (input/ and target/, read as training reads
    them, at most `max_side` px), with its EV from the CSV, else estimated from the frames."""
    fits = []
    for pair in load_brackets(root, csv_path, max_side):
        luts = best_curves(pair.exposed, pair.target, shared=True)
        inverse = np.clip(np.round(camera_inverse(pair.ev)), 0, 255).astype(np.uint8)
        fits.append(
            CurveFit(
                pair.name,
                pair.ev,
                luts[0].astype(np.float64),
                _psnr(apply_curves(pair.exposed, luts), pair.target),
                _psnr(apply_curves(pair.exposed, np.repeat(inverse[None], 3, axis=0)), pair.target),
            )
        )
    if not fits:
        raise ValueError(f"no pairs in {root} (input/ and target/ with the same file names)")
    return fits


def describe(fit: CurveFit) -> dict[str, float]:
    effective = mid_ev(fit.lut)
    inverse_at_mid = camera_inverse(effective)
    inverse_at_ev = camera_inverse(fit.ev)
    return {
        "ev": fit.ev,
        "mid_ev": effective,
        "contrast": slope(fit.lut, 96, 160) / slope(inverse_at_mid, 96, 160),
        "top": fit.lut[255] / 255.0,
        "top_inverse": inverse_at_ev[255] / 255.0,
        "rolloff": slope(fit.lut, 200, 250) / slope(inverse_at_ev, 200, 250),
        "psnr_curve": fit.psnr_curve,
        "psnr_inverse": fit.psnr_inverse,
    }


def family_table(curve: ToneCurve, ev: float) -> np.ndarray:
    """The table that takes a synthetic camera's frame `ev` stops over back to its target."""
    linear = curve.decode(CODES / 255.0)
    return np.asarray(curve.encode(np.minimum(1.0, linear / 2.0**ev)) * 255.0)


def format_report(fits: list[CurveFit]) -> str:
    rows = [describe(f) for f in fits]
    lines = [
        f"Best curve shared by R, G and B, fitted to each of {len(fits)} real pairs, against "
        "the camera inverse (sRGB) at the pair's EV",
        "",
        "| pair | EV | mid EV | contrast | top (inverse) | roll-off | PSNR curve | PSNR inverse |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for fit, row in zip(fits, rows, strict=True):
        lines.append(
            f"| {fit.name} | {row['ev']:.2f} | {row['mid_ev']:.2f} | {row['contrast']:.2f} "
            f"| {row['top']:.2f} ({row['top_inverse']:.2f}) | {row['rolloff']:.2f} "
            f"| {row['psnr_curve']:.2f} | {row['psnr_inverse']:.2f} |"
        )

    def summary(key: str) -> str:
        values = [row[key] for row in rows]
        q = np.percentile(values, [10, 50, 90])
        return f"{statistics.mean(values):.2f} (p10 {q[0]:.2f}, median {q[1]:.2f}, p90 {q[2]:.2f})"

    lines += ["", "| over all pairs | mean (p10, median, p90) |", "|---|---|"]
    labels = {
        "mid_ev": "mid EV minus the pair's EV",
        "contrast": "contrast",
        "top": "top",
        "rolloff": "roll-off",
        "psnr_curve": "PSNR, fitted curve",
        "psnr_inverse": "PSNR, camera inverse",
    }
    for key, label in labels.items():
        if key == "mid_ev":
            diffs = [row["mid_ev"] - row["ev"] for row in rows]
            q = np.percentile(diffs, [10, 50, 90])
            text = f"{statistics.mean(diffs):+.2f} (p10 {q[0]:+.2f}, median {q[1]:+.2f}, "
            lines.append(f"| {label} | {text}p90 {q[2]:+.2f}) |")
        else:
            lines.append(f"| {label} | {summary(key)} |")
    return "\n".join(lines)


def _ev_colour(ev: float) -> tuple[int, int, int]:
    t = float(np.clip((ev - 0.5) / 2.0, 0.0, 1.0))
    return (int(40 + 200 * t), 60, int(220 - 180 * t))


def plot(fits: list[CurveFit], path: Path, size: int = 360, margin: int = 36) -> None:
    """Two panels, input code against output code: the real pairs' fitted curves, and the
    synthetic family at EV 1 and 2; both over sRGB's inverse at EV 1, 1.5 and 2 (grey)."""
    width = 2 * (size + 2 * margin)
    image = Image.new("RGB", (width, size + 2 * margin + 20), "white")
    draw = ImageDraw.Draw(image)

    def panel(
        index: int, title: str, curves: list[tuple[np.ndarray, tuple[int, int, int]]]
    ) -> None:
        x0, y0 = index * (size + 2 * margin) + margin, margin + 10
        draw.rectangle([x0, y0, x0 + size, y0 + size], outline="black")
        draw.text((x0, y0 - 22), title, fill="black")
        for tick in (0, 64, 128, 192, 255):
            t = tick / 255 * size
            draw.text((x0 + t - 6, y0 + size + 4), str(tick), fill="black")
            draw.text((x0 - 26, y0 + size - t - 6), str(tick), fill="black")
        for ev in (1.0, 1.5, 2.0):
            _polyline(draw, camera_inverse(ev), x0, y0, size, (170, 170, 170))
        for lut, colour in curves:
            _polyline(draw, lut, x0, y0, size, colour)

    panel(0, "real pairs: fitted shared curves (blue EV 0.5 .. red EV 2.5)",
          [(f.lut, _ev_colour(f.ev)) for f in fits])  # fmt: skip
    family = [
        gamma_curve(1.8), gamma_curve(2.2), gamma_curve(2.6), srgb_curve(),
        filmic_curve(2.2, 1.15, 1.5), filmic_curve(2.2, 1.15, 6.0),
    ]  # fmt: skip
    synthetic = [(family_table(c, ev), _ev_colour(ev)) for c in family for ev in (1.0, 2.0)]
    panel(1, "synthetic camera family (training/degrade.py), EV 1 and 2", synthetic)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _polyline(
    draw: ImageDraw.ImageDraw,
    lut: np.ndarray,
    x0: int,
    y0: int,
    size: int,
    colour: tuple[int, int, int],
) -> None:
    points = [(x0 + c / 255 * size, y0 + size - float(v) / 255 * size) for c, v in enumerate(lut)]
    draw.line(points, fill=colour, width=1)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("training.curve_study", __doc__)
    parser.add_argument("--pairs", type=Path, required=True, help="folder with input/ and target/")
    parser.add_argument("--pairs-csv", type=Path, help="CSV with columns name and ev")
    parser.add_argument("--plot", type=Path, help="PNG to draw the curves into")
    args = parser.parse_args(argv)

    def body() -> None:
        fits = fit_pairs(args.pairs, args.pairs_csv)
        print(format_report(fits))
        if args.plot:
            plot(fits, args.plot)
            print(f"\nplot: {args.plot}")

    return exit_status(body)


if __name__ == "__main__":
    raise SystemExit(main())
