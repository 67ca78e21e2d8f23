"""Scores a checkpoint against SPEC section 2's baselines on a folder of ground-truth photos."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model import (
    DEFAULT_GAMMA,
    Generator,
    Prediction,
    correct_images,
    from_canvas,
    load_generator,
    overexpose_uint8,
    to_canvas,
    trivial_inverse,
)
from training.metrics import Scores, mean_scores, score
from training.photos import SUFFIXES, find_photos, load_photo

S2_TAUS = (0.35, 0.5, 0.7)
# (header, Scores field, decimals), as SPEC's baseline table prints them.
COLUMNS = (
    ("PSNR", "psnr", 2),
    ("SSIM", "ssim", 4),
    ("lum", "lum", 2),
    ("con", "con", 2),
    ("sat", "sat", 2),
    ("ΔE00", "delta_e00", 2),
)


def scenario_taus(scenario: str, count: int) -> list[float]:
    """Clip level of each photo of a sorted set under scenario s1 or s2."""
    if scenario == "s1":
        return [0.5] * count
    if scenario == "s2":
        return [S2_TAUS[i % len(S2_TAUS)] for i in range(count)]
    raise ValueError(f"unknown scenario {scenario!r}; expected 's1' or 's2'")


def inverse_uint8(image: np.ndarray, tau: float) -> np.ndarray:
    """The trivial inverse on 8-bit values, rounded half to even and clipped."""
    x = trivial_inverse(image.astype(np.float32) / np.float32(255.0), tau)
    return np.clip(np.round(x * np.float32(255.0)), 0, 255).astype(np.uint8)


def _side_by_side(panels: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate(list(panels), axis=1)


def evaluate(
    data: Path,
    scenario: str = "s1",
    checkpoint: Path | None = None,
    device: str = "cpu",
    limit: int | None = None,
    upscale: int = 1,
    out: Path | None = None,
    samples: int | None = None,
    told_tau: bool = False,
    learned_gain: bool = False,
) -> dict[str, Scores]:
    """Mean scores per method ('identity', 'inverse_true_tau', ...) over the photos in `data`."""
    paths = find_photos(data)[:limit]
    if not paths:
        raise ValueError(f"no photos ({', '.join(sorted(SUFFIXES))}) under {data}")
    generator = load_generator(checkpoint, device)[0] if checkpoint is not None else None
    loaded = [(p, load_photo(p, upscale=upscale)) for p in paths]
    photos = [(p, img) for p, img in loaded if img is not None]
    taus = scenario_taus(scenario, len(photos))
    methods = ["identity", "inverse_true_tau"]
    if scenario == "s2":
        methods.append("inverse_tau_0.5")
    if generator is not None:
        methods.append("checkpoint")
        if learned_gain:
            methods.append("checkpoint_learned_gain")
        if told_tau:
            methods.append("checkpoint_told_tau")
    per_method: dict[str, list[Scores]] = {m: [] for m in methods}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)

    for index, ((path, truth), tau) in enumerate(zip(photos, taus, strict=True)):
        exposed = overexpose_uint8(truth, tau)
        outputs = {"identity": exposed, "inverse_true_tau": inverse_uint8(exposed, tau)}
        if scenario == "s2":
            outputs["inverse_tau_0.5"] = inverse_uint8(exposed, 0.5)
        if generator is not None:
            # The model is not told tau: it sees only the overexposed photo, as users send it.
            outputs["checkpoint"] = correct_images(generator, [exposed])[0]
            gains: dict[str, float | None] = {}
            if learned_gain:
                gains["checkpoint_learned_gain"] = None  # its own estimate
            if told_tau:
                gains["checkpoint_told_tau"] = DEFAULT_GAMMA * math.log(tau)
            if gains:
                outputs |= _diagnostics(generator, exposed, gains)
        for method in methods:
            per_method[method].append(score(truth, outputs[method]))
        if out is not None and (samples is None or index < samples):
            panels = [exposed, outputs["inverse_true_tau"]]
            panels += [outputs["checkpoint"]] if generator is not None else []
            name = path.relative_to(data).with_suffix("").as_posix().replace("/", "__")
            Image.fromarray(_side_by_side([*panels, truth])).save(out / f"{name}.png")

    results = {m: mean_scores(s) for m, s in per_method.items()}
    if out is not None:
        report = {
            "scenario": scenario,
            "photos": len(photos),
            "checkpoint": str(checkpoint) if checkpoint else None,
            "upscale": upscale,
            "results": {m: s.as_dict() for m, s in results.items()},
        }
        (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    return results


@torch.inference_mode()
def _diagnostics(
    generator: Generator, exposed: np.ndarray, gains: dict[str, float | None]
) -> dict[str, np.ndarray]:
    """The checkpoint without the histogram trace, one output per named log-gain (None: its
    own estimate), from one forward pass. They separate the model's parts: how well the
    generator estimates the exposure from the picture alone, and how well it fills."""
    canvas = to_canvas(exposed, generator.config.working_size, read_trace=False)
    device = next(generator.parameters()).device
    estimate, fills = generator.predict(canvas.tensor[None].to(device))
    fill = fills[0].float().cpu()
    return {
        name: from_canvas(exposed, canvas, Prediction(float(estimate[0]) if g is None else g, fill))
        for name, g in gains.items()
    }


LABELS = {
    "identity": "identity (input returned)",
    "inverse_true_tau": "trivial inverse, true tau",
    "inverse_tau_0.5": "trivial inverse, tau fixed at 0.5",
    "checkpoint": "checkpoint",
    "checkpoint_learned_gain": "checkpoint, gain estimated from the picture only (diagnostic)",
    "checkpoint_told_tau": "checkpoint's fill with the true tau (diagnostic)",
}


def format_table(results: dict[str, Scores]) -> str:
    """SPEC section 2's table as markdown, one row per method."""
    lines = ["| method | " + " | ".join(c[0] for c in COLUMNS) + " |"]
    lines.append("|---|" + "---:|" * len(COLUMNS))
    for method, scores in results.items():
        values = scores.as_dict()
        cells = " | ".join(f"{values[key]:.{digits}f}" for _, key, digits in COLUMNS)
        lines.append(f"| {LABELS.get(method, method)} | {cells} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: prints the table for one scenario."""
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder of ground-truth photos")
    parser.add_argument("--checkpoint", type=Path, help="generator checkpoint (.safetensors)")
    parser.add_argument("--scenario", choices=("s1", "s2"), default="s1")
    parser.add_argument("--out", type=Path, help="folder for side-by-side PNGs and results.json")
    parser.add_argument("--samples", type=int, help="write side-by-sides for the first N only")
    parser.add_argument("--limit", type=int, help="evaluate only the first N photos")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--upscale", type=int, default=1, help="upscale ground truth K times")
    parser.add_argument(
        "--told-tau",
        action="store_true",
        help="diagnostic row: the checkpoint's fill with the true gain instead of its estimate",
    )
    parser.add_argument(
        "--learned-gain",
        action="store_true",
        help="diagnostic row: the checkpoint with its learned gain estimate only, as for photos"
        " that carry no histogram trace of a digital gain (camera-overexposed, resized, JPEG)",
    )
    args = parser.parse_args(argv)
    if args.upscale < 1:
        parser.error("--upscale must be a positive integer")
    try:
        results = evaluate(
            args.data,
            args.scenario,
            checkpoint=args.checkpoint,
            device=args.device,
            limit=args.limit,
            upscale=args.upscale,
            out=args.out,
            samples=args.samples,
            told_tau=args.told_tau,
            learned_gain=args.learned_gain,
        )
    except (ValueError, FileNotFoundError) as exc:  # ValueError includes CheckpointError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"scenario {args.scenario.upper()}, {args.data}")
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
