"""The exposure estimator's samples: degraded photos and real brackets, turned into features once.

Every photo folder gives many degraded versions of each photo (drawn as the camera-like family
of SPEC section 1b and the poster's simulation of section 1, stored as JPEG or losslessly, most
of them not overexposed at all), plus the fixed N and C cases of SPEC section 2 for validation.
Real bracket pairs give their overexposed frame with the EV of pairs.csv, and, with
`--real-curves`, their cameras' responses overexpose photos of every collection
(training.real_curves). Each sample is
reduced to `model.exposure_features` of its generator canvas, exactly as the service computes
them, and the table is cached in one .npz file, so that many estimators (one per held-out
collection) train in seconds from one extraction.

A photo's collection is its data set: the file prefix (`imnet_`, `osie_`, `in21k_`, ...), and
for train/ the BSDS photos (numeric names) and the Sun-Hays scenes (the others).
"""

from __future__ import annotations

import csv
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from model import overexpose_uint8, prepare
from model.exposure_features import FEATURE_COUNT, FEATURE_VERSION, canvas_features
from training.degrade import (
    CameraSampler,
    downscale,
    filmic_curve,
    overexpose_camera,
    store_jpeg,
)
from training.photos import find_photos, load_photo
from training.real_curves import RealCurve, load_real_curves
from training.scenarios import make_case, read_pair_evs

log = logging.getLogger(__name__)

WORKING_SIZE = 512
# A real_curve sample's name: the photo's, this mark, the pair whose response made it.
PAIR_MARK = "|"
# What a sample is, in the cache's `kind` column.
KINDS = ("good", "camera", "spec", "real_curve", "bracket", "bracket_target", "scenario")


def collection_of(path: Path) -> str:
    """The data set a photo file belongs to (see the module docstring)."""
    stem = path.stem
    if stem.isdigit():
        return "bsds"
    if path.parent.name == "train":
        return "sunhays"
    if stem.startswith("mcmaster"):
        return "mcmaster"
    prefix = stem.split("_", 1)[0]
    return "set" if prefix in ("set5", "set14") else prefix


@dataclass(frozen=True)
class Mix:
    """How the training samples of one photo are drawn."""

    per_photo: int = 12
    zero_ev_prob: float = 0.4  # good photos: most uploads are not overexposed
    max_ev: float = 3.0
    spec_prob: float = (
        0.25  # of the overexposed ones: SPEC section 1 (gamma 2.2, tau), else 1b's family
    )
    jpeg_prob: float = 0.75
    jpeg_quality: tuple[int, int] = (60, 98)
    downscale_prob: float = 0.3
    # Of the camera-like ones: a strong highlight shoulder (filmic k in this range), the way raw
    # converters roll highlights off: brighter frames of real brackets clip far less than the
    # family above at the same EV and pile up just below white instead.
    shoulder_prob: float = 0.0
    shoulder: tuple[float, float] = (0.2, 1.5)
    # Of the overexposed ones: a real camera's response measured on a bracket train pair
    # (training.real_curves), the photo first shifted by a stop range in linear light.
    real_curve_prob: float = 0.0
    real_shift: tuple[float, float] = (-0.8, 0.5)
    camera: CameraSampler = field(default_factory=CameraSampler)


@dataclass
class Table:
    """Columns of the cache, one row per sample."""

    features: list[np.ndarray] = field(default_factory=list)
    ev: list[float] = field(default_factory=list)
    collection: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    scenario: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    split: list[str] = field(default_factory=list)  # train, eval, val

    def add(
        self,
        image: np.ndarray,
        ev: float,
        collection: str,
        kind: str,
        name: str,
        split: str,
        scenario: str = "",
    ) -> None:
        canvas = prepare(image, WORKING_SIZE)
        feats = canvas_features(canvas.tensor, canvas.low_height, canvas.low_width)
        self.features.append(feats.numpy())
        self.ev.append(ev)
        self.collection.append(collection)
        self.kind.append(kind)
        self.scenario.append(scenario)
        self.name.append(name)
        self.split.append(split)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            features=np.stack(self.features).astype(np.float32),
            ev=np.asarray(self.ev, dtype=np.float32),
            collection=np.asarray(self.collection),
            kind=np.asarray(self.kind),
            scenario=np.asarray(self.scenario),
            name=np.asarray(self.name),
            split=np.asarray(self.split),
            feature_version=np.asarray(FEATURE_VERSION),
        )


def load_table(path: Path) -> dict[str, np.ndarray]:
    """The cached columns; refuses a cache of other features."""
    data = dict(np.load(path))
    if str(data["feature_version"]) != FEATURE_VERSION or data["features"].shape[1] != (
        FEATURE_COUNT
    ):
        raise ValueError(f"{path} holds {data['feature_version']} features; rebuild the cache")
    return data


def load_tables(paths: list[Path]) -> dict[str, np.ndarray]:
    """Several caches as one table, rows in order."""
    tables = [load_table(p) for p in paths]
    return {
        key: tables[0][key]
        if key == "feature_version"
        else np.concatenate([t[key] for t in tables])
        for key in tables[0]
    }


def _window(image: np.ndarray, rng: random.Random, mix: Mix) -> np.ndarray:
    """Most of the picture (70-100% of each side), sometimes downscaled."""
    h, w = image.shape[:2]
    win_h, win_w = (
        max(8, round(h * rng.uniform(0.7, 1.0))),
        max(8, round(w * rng.uniform(0.7, 1.0))),
    )
    top, left = rng.randrange(h - min(h, win_h) + 1), rng.randrange(w - min(w, win_w) + 1)
    out = np.ascontiguousarray(image[top : top + win_h, left : left + win_w])
    if rng.random() < mix.downscale_prob:
        out = downscale(out, rng.uniform(0.5, 1.0))
    return out


def _store(image: np.ndarray, rng: random.Random, mix: Mix) -> np.ndarray:
    if rng.random() < mix.jpeg_prob:
        return store_jpeg(image, rng.randint(*mix.jpeg_quality))
    return image


def degraded(
    photo: np.ndarray, rng: random.Random, mix: Mix, curves: Sequence[RealCurve] = ()
) -> tuple[np.ndarray, float, str, str]:
    """One training sample of a good photo: (image as uploaded, true EV, kind, the bracket pair
    whose response made it or "")."""
    image = _window(photo, rng, mix)
    if rng.random() < mix.zero_ev_prob:
        return _store(image, rng, mix), 0.0, "good", ""
    if curves and rng.random() < mix.real_curve_prob:
        response = rng.choice(curves)
        exposed, ev = response.overexpose(image, rng.uniform(*mix.real_shift))
        return _store(exposed, rng, mix), ev, "real_curve", response.name
    ev = rng.uniform(0.05, mix.max_ev)
    if rng.random() < mix.spec_prob:
        return _store(overexpose_uint8(image, 2.0**-ev), rng, mix), ev, "spec", ""
    s = mix.camera
    wb = np.array([1.0 + rng.uniform(-s.white_balance, s.white_balance) for _ in "rgb"])
    if mix.shoulder_prob and rng.random() < mix.shoulder_prob:
        curve = filmic_curve(
            rng.uniform(2.0, 2.4), rng.uniform(1.0, 1.3), rng.uniform(*mix.shoulder)
        )
    else:
        curve = s.draw_curve(rng)
    exposed, _ = overexpose_camera(image, ev, curve, wb)
    return _store(exposed, rng, mix), ev, "camera", ""


def photo_files(folders: list[Path]) -> Iterator[tuple[Path, str]]:
    for folder in folders:
        for path in find_photos(folder):
            yield path, collection_of(path)


def build(
    photos: list[Path],
    brackets: list[Path],
    pairs_csv: Path,
    eval_photos: Path | None,
    val_brackets: Path | None,
    mix: Mix,
    seed: int = 0,
    bracket_samples: int = 30,
    limit: int | None = None,
    every: int = 1,
    cases: bool = True,
    real_curves: Path | None = None,
) -> Table:
    """Extracts every sample's features (see the module docstring)."""
    rng = random.Random(seed)
    table = Table()
    evs = read_pair_evs(pairs_csv)
    curves = load_real_curves(real_curves, pairs_csv, WORKING_SIZE) if real_curves else []
    if held := {c.name for c in curves} & validation_pairs(pairs_csv):
        raise ValueError(f"--real-curves holds validation pairs, never trained on: {sorted(held)}")
    if mix.real_curve_prob and not curves:
        raise ValueError("real_curve_prob needs --real-curves, a folder of bracket train pairs")
    # SPEC section 2's cases count photos in each collection's sorted order.
    index_in: dict[str, int] = {}
    files = list(photo_files(photos))[::every][:limit]
    for done, (path, coll) in enumerate(files):
        photo = load_photo(path, max_side=WORKING_SIZE)
        if photo is None:
            continue
        name = path.name
        for _ in range(mix.per_photo):
            image, ev, kind, via = degraded(photo, rng, mix, curves)
            table.add(image, ev, coll, kind, f"{name}{PAIR_MARK}{via}" if via else name, "train")
        i = index_in.get(coll, 0)
        index_in[coll] = i + 1
        for scenario in ("n", "c") if cases else ():
            case = make_case(scenario, i, photo, name)
            table.add(case.input, float(case.ev or 0.0), coll, "scenario", name, "train", scenario)
        if done % 200 == 0:
            log.info("%d/%d photos, %d samples", done, len(files), len(table.ev))
    for root in brackets:
        for pair_name, exposed, target in _pairs(root):
            ev = evs[pair_name]
            for j in range(bracket_samples):
                image = exposed if j == 0 else _store(_window(exposed, rng, mix), rng, mix)
                table.add(image, ev, "brackets", "bracket", pair_name, "train")
            for _ in range(max(1, bracket_samples // 6)):
                image = _store(_window(target, rng, mix), rng, mix)
                table.add(image, 0.0, "brackets", "bracket_target", pair_name, "train")
    if eval_photos is not None:
        for i, path in enumerate(find_photos(eval_photos)):
            photo = load_photo(path)
            assert photo is not None
            for scenario in ("n", "c", "s1", "s2", "j1", "j2"):
                case = make_case(scenario, i, photo, path.name)
                ev = float(case.ev or 0.0)
                table.add(
                    case.input, ev, collection_of(path), "scenario", path.name, "eval", scenario
                )
        log.info("eval photos done, %d samples", len(table.ev))
    if val_brackets is not None:
        for pair_name, exposed, target in _pairs(val_brackets, max_side=None):
            table.add(exposed, evs[pair_name], "brackets", "bracket", pair_name, "val", "r")
            table.add(target, 0.0, "brackets", "bracket_target", pair_name, "val", "r")
    return table


def validation_pairs(pairs_csv: Path) -> set[str]:
    """The pairs pairs.csv puts in a split other than train (no `split` column: none)."""
    with pairs_csv.open(newline="") as file:
        return {r["name"] for r in csv.DictReader(file) if r.get("split", "train") != "train"}


def _pairs(
    root: Path, max_side: int | None = WORKING_SIZE
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    targets = {p.stem: p for p in find_photos(root / "target")}
    for path in find_photos(root / "input"):
        exposed = load_photo(path, max_side=max_side)
        target = load_photo(targets[path.stem], max_side=max_side)
        if exposed is None or target is None:
            continue
        yield path.stem, exposed, target


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=Path, nargs="*", default=[])
    parser.add_argument("--brackets", type=Path, nargs="*", default=[])
    parser.add_argument("--pairs-csv", type=Path, required=True)
    parser.add_argument("--eval-photos", type=Path)
    parser.add_argument("--val-brackets", type=Path)
    parser.add_argument("--per-photo", type=int, default=Mix.per_photo)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=1, help="only every K-th photo")
    parser.add_argument("--no-cases", action="store_true", help="without SPEC's N and C cases")
    parser.add_argument("--zero-ev-prob", type=float, default=Mix.zero_ev_prob)
    parser.add_argument("--spec-prob", type=float, default=Mix.spec_prob)
    parser.add_argument("--shoulder-prob", type=float, default=Mix.shoulder_prob)
    parser.add_argument(
        "--real-curves", type=Path, help="bracket train pairs whose responses overexpose photos"
    )
    parser.add_argument("--real-curve-prob", type=float, default=Mix.real_curve_prob)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    table = build(
        args.photos,
        args.brackets,
        args.pairs_csv,
        args.eval_photos,
        args.val_brackets,
        Mix(
            per_photo=args.per_photo,
            zero_ev_prob=args.zero_ev_prob,
            spec_prob=args.spec_prob,
            shoulder_prob=args.shoulder_prob,
            real_curve_prob=args.real_curve_prob,
        ),
        seed=args.seed,
        limit=args.limit,
        every=args.every,
        cases=not args.no_cases,
        real_curves=args.real_curves,
    )
    table.save(args.out)
    log.info("%d samples -> %s", len(table.ev), args.out)


if __name__ == "__main__":
    main()
