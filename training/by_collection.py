"""Blind correction collection by collection, each with an estimator that never saw it.

For every collection of photos (training.estimator_data.collection_of: a file prefix, or BSDS
and Sun-Hays in train/), SPEC section 2's N and C cases of its photos, in the collection's
sorted order, as `make_case` builds them. The EV is the one the estimator trained with that
collection held out chooses (`ESTIMATORS/COLLECTION.safetensors`, written by
`python -m training.train_estimator --loco --loco-dir ESTIMATORS`); a folder named `eval`
(never trained on) is one collection, measured with the shipped estimator. The EV's bias and
mean absolute error are over every photo; PSNR (identity, and the generator told that EV) over
every photo too, or over the first `psnr_limit` of each collection for a quicker look (a
forward pass per case is what costs: every photo of photos/{train,extra,more} takes about 12
minutes on one CPU thread).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model import choose_ev, correct_images, load_estimator, load_generator, prepare
from model.estimator import SHIPPED_ESTIMATOR
from training.estimator_data import WORKING_SIZE, collection_of
from training.metrics import psnr
from training.photos import find_photos, load_photo
from training.scenarios import make_case


def _collections(folders: Sequence[Path]) -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = {}
    for folder in folders:
        for path in find_photos(folder):
            name = "eval" if folder.name == "eval" else collection_of(path)
            groups.setdefault(name, []).append(path)
    return groups


def collection_report(
    folders: Sequence[Path],
    checkpoint: Path,
    estimators: Path,
    psnr_limit: int | None = None,
    overshoot: float | None = None,
) -> str:
    """The per-collection table as markdown (see the module docstring); `overshoot` replaces
    the estimators' own decision (model.estimator.EstimatorConfig.overshoot)."""
    generator, _ = load_generator(checkpoint)
    lines = [
        "| collection | photos | estimator | N: identity | N: blind | N: mean EV | "
        "N: share > 0.2 | C: identity | C: blind | C: EV bias | C: EV MAE | PSNR on |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    c_biases = []
    for name, paths in sorted(_collections(folders).items()):
        path = estimators / f"{name}.safetensors"
        which = "held out" if path.exists() else "shipped"
        estimator, _ = load_estimator(path if path.exists() else SHIPPED_ESTIMATOR)
        if overshoot is not None:
            estimator.set_costs(overshoot)
        n_ev, c_err = [], []
        scores: dict[str, list[float]] = {k: [] for k in ("n_id", "n_blind", "c_id", "c_blind")}
        for i, file in enumerate(paths):
            photo = load_photo(file, max_side=None if name == "eval" else WORKING_SIZE)
            if photo is None:
                continue
            for scenario in ("n", "c"):
                case = make_case(scenario, i, photo, file.name)
                ev = choose_ev(estimator, prepare(case.input, WORKING_SIZE), None).ev
                if scenario == "n":
                    n_ev.append(ev)
                else:
                    c_err.append(ev - float(case.ev or 0.0))
                if psnr_limit is None or i < psnr_limit:
                    (out,) = correct_images(generator, [case.input], evs=[ev])
                    scores[f"{scenario}_id"].append(psnr(case.truth, case.input))
                    scores[f"{scenario}_blind"].append(psnr(case.truth, out))
        n_arr, c_arr = np.array(n_ev), np.array(c_err)
        mean = {k: float(np.mean(v)) for k, v in scores.items()}
        lines.append(
            f"| {name} | {len(paths)} | {which} | {mean['n_id']:.2f} | {mean['n_blind']:.2f} | "
            f"{n_arr.mean():.2f} | {(n_arr > 0.2).mean():.2f} | {mean['c_id']:.2f} | "
            f"{mean['c_blind']:.2f} | {c_arr.mean():+.2f} | {np.abs(c_arr).mean():.2f} | "
            f"{len(scores['n_id'])} |"
        )
        print(lines[-1], flush=True)
        if which == "held out" and len(paths) >= 50:
            c_biases.append(float(c_arr.mean()))
    if c_biases:
        lines.append(
            f"\nC: EV bias across held-out collections of 50+ photos: {min(c_biases):+.2f} to "
            f"{max(c_biases):+.2f} (spread {max(c_biases) - min(c_biases):.2f})"
        )
    return "\n".join(lines)
