"""Trains the exposure estimator on cached features, validated collection by collection.

    python -m training.estimator_data --photos PHOTOS... --brackets PAIRS --pairs-csv CSV \
        --eval-photos EVAL --val-brackets VAL_PAIRS --out runs/est/cache.npz
    python -m training.estimator_data --photos PHOTOS... --pairs-csv CSV --real-curves PAIRS \
        --per-photo 6 --no-cases --zero-ev-prob 0 --spec-prob 0 --real-curve-prob 1 \
        --out runs/est/real.npz
    python -m training.train_estimator --cache runs/est/cache.npz runs/est/real.npz --loco \
        --pairs-csv CSV --overshoot 2.0 --loco-dir runs/est/loco \
        --out checkpoints/exposure-estimator.safetensors

`--hold-out NAME` leaves a collection (a file prefix or folder, see training.estimator_data;
`brackets` is the real bracket train pairs) out of training. `--loco` trains one estimator per
collection with it held out, predicts that collection's SPEC N and C cases (and, for the
brackets, their inputs as stored; with `--pairs-csv`, in folds of whole scene groups, each fold
predicted by an estimator that saw the others), scores the decision's cost of taking back too
much on those held-out predictions with the camera inverse's measured cost (the least is printed;
`--overshoot` sets the one used, as measured through the generator with
`training.evaluate --collections`), prints the per-collection table, and then trains the
shipped estimator on everything with that decision. Never trained on: photos/eval and
brackets/val (the cache marks them `eval` and `val`); the table reports both.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from model.estimator import EstimatorConfig, ExposureEstimator, error_cost, save_estimator
from training.command import command_parser, exit_status
from training.estimator_data import PAIR_MARK, load_tables

TRAIN_KINDS = ("good", "camera", "spec", "real_curve", "bracket", "bracket_target")
# What the real bracket train pairs teach: held out together when `brackets` is held out.
BRACKET_KINDS = ("real_curve", "bracket", "bracket_target")
# Collections with fewer training photos are reported but never held out alone.
MIN_COLLECTION = 50
OVERSHOOT_GRID = (0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)
# Folds of scene groups in which the bracket train pairs are predicted held out.
BRACKET_FOLDS = 5


@dataclass(frozen=True)
class FitOptions:
    # Twelve passes over the samples (about 55,000): longer runs, wider or several networks,
    # and dropout all measured the same on held-out collections (with the first 40,000).
    epochs: int = 12
    batch: int = 512
    lr: float = 2e-3
    weight_decay: float = 1e-4
    smoothing: float = 0.02
    # Real brackets (58 pairs, 30 samples each) against about 38,000 photo samples. With half
    # of their scene groups held out, the brackets' EV bias was -0.84 stops unweighted, -0.66
    # at 20 and -0.51 at 150; but at 150 the held-out photo collections' C error grew from
    # 0.36-0.53 to 0.42-0.60 stops.
    bracket_weight: float = 20.0
    # Photos overexposed with the brackets' responses (training.real_curves).
    real_curve_weight: float = 1.0
    seed: int = 0


def soft_labels(ev: torch.Tensor, config: EstimatorConfig, smoothing: float) -> torch.Tensor:
    """Each EV split between its two nearest bins, then a little mass spread everywhere."""
    pos = (ev / config.bin_step).clamp(0, config.bins - 1)
    lower = pos.floor().long().clamp(max=config.bins - 2)
    frac = (pos - lower).unsqueeze(1)
    labels = torch.zeros(len(ev), config.bins)
    labels.scatter_(1, lower[:, None], 1 - frac)
    labels.scatter_add_(1, lower[:, None] + 1, frac)
    return labels * (1 - smoothing) + smoothing / config.bins


def fit(
    features: np.ndarray,
    ev: np.ndarray,
    weights: np.ndarray,
    config: EstimatorConfig,
    options: FitOptions,
) -> ExposureEstimator:
    """An estimator trained with cross-entropy on soft EV labels, rows weighted."""
    torch.manual_seed(options.seed)
    model = ExposureEstimator(config)
    x = torch.from_numpy(features).float()
    mean, std = x.mean(dim=0), x.std(dim=0).clamp(min=1e-3)
    model.feature_mean.copy_(mean)  # type: ignore[operator]
    model.feature_std.copy_(std)  # type: ignore[operator]
    y = soft_labels(torch.from_numpy(ev).float(), config, options.smoothing)
    w = torch.from_numpy(weights).float()
    w = w / w.mean()
    opt = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    steps = options.epochs * math.ceil(len(x) / options.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, options.lr, total_steps=steps)
    generator = torch.Generator().manual_seed(options.seed)
    model.train()
    for _ in range(options.epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), options.batch):
            idx = order[start : start + options.batch]
            logits = model(x[idx])
            loss: torch.Tensor = (
                -(y[idx] * F.log_softmax(logits, dim=1)).sum(dim=1) * w[idx]
            ).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            schedule.step()
    model.eval().requires_grad_(False)
    return model


def training_rows(data: dict[str, np.ndarray], held_out: Sequence[str]) -> np.ndarray:
    """Rows to train on with `held_out` collections left out. Photos overexposed with the
    brackets' responses carry what the brackets teach, so they leave with `brackets`."""
    rows = (data["split"] == "train") & np.isin(data["kind"], TRAIN_KINDS)
    rows &= ~np.isin(data["collection"], list(held_out))
    if "brackets" in held_out:
        rows &= ~np.isin(data["kind"], BRACKET_KINDS)
    return np.flatnonzero(rows)


def row_weights(data: dict[str, np.ndarray], rows: np.ndarray, options: FitOptions) -> np.ndarray:
    kind = data["kind"][rows]
    bracket = np.isin(kind, ("bracket", "bracket_target"))
    real = kind == "real_curve"
    return np.where(bracket, options.bracket_weight, np.where(real, options.real_curve_weight, 1.0))


def train(
    data: dict[str, np.ndarray],
    held_out: Sequence[str],
    options: FitOptions,
    config: EstimatorConfig | None = None,
) -> ExposureEstimator:
    rows = training_rows(data, held_out)
    return fit(
        data["features"][rows],
        data["ev"][rows],
        row_weights(data, rows, options),
        config or EstimatorConfig(),
        options,
    )


def probabilities(model: ExposureEstimator, features: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model.distribution(torch.from_numpy(features).float()).numpy()


def validation_rows(data: dict[str, np.ndarray], collection: str) -> np.ndarray:
    """A held-out collection's validation rows: SPEC's N and C cases of its photos, or, for the
    brackets, each pair's input and target as stored (the first sample of each)."""
    mine = (data["collection"] == collection) & (data["split"] == "train")
    if collection == "brackets":
        names = data["name"]
        first = np.zeros(len(names), dtype=bool)
        seen: set[tuple[str, str]] = set()
        for i in np.flatnonzero(mine):
            key = (str(names[i]), str(data["kind"][i]))
            if key not in seen:
                seen.add(key)
                first[i] = True
        return np.flatnonzero(first)
    return np.flatnonzero(mine & (data["kind"] == "scenario"))


def decide(probs: np.ndarray, config: EstimatorConfig) -> np.ndarray:
    model = ExposureEstimator(config)
    return model.decide(torch.from_numpy(probs)).numpy()


def case_of(data: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """'N' (good photo), 'C' (overexposed photo) or other scenarios, per row."""
    scenario = data["scenario"][rows]
    kind = data["kind"][rows]
    return np.where(
        kind == "bracket", "R", np.where(kind == "bracket_target", "Rt", np.char.upper(scenario))
    )


def summarise(ev_used: np.ndarray, truth: np.ndarray, cases: np.ndarray) -> dict[str, float | int]:
    """Per collection: mean EV and share over 0.2 on good photos; bias and MAE on overexposed."""
    out: dict[str, float | int] = {}
    good = cases == "N"
    if good.any():
        out["n_good"] = int(good.sum())
        out["good_mean_ev"] = float(ev_used[good].mean())
        out["good_over_0.2"] = float((ev_used[good] > 0.2).mean())
    for case in ("C", "R", "S1", "S2", "J1", "J2"):
        sel = cases == case
        if sel.any():
            err = ev_used[sel] - truth[sel]
            out[f"{case}_n"] = int(sel.sum())
            out[f"{case}_bias"] = float(err.mean())
            out[f"{case}_mae"] = float(np.abs(err).mean())
    if (cases == "Rt").any():
        out["Rt_mean_ev"] = float(ev_used[cases == "Rt"].mean())
    return out


def realised_cost(
    ev_used: np.ndarray, truth: np.ndarray, groups: np.ndarray, cases: np.ndarray
) -> float:
    """Mean dB lost (the measured cost, unscaled): within each case (good photos, SPEC's C,
    real brackets) each group (collection) weighs alike, and the cases weigh alike."""
    cost = error_cost(torch.from_numpy(ev_used - truth).double()).numpy()
    per_case = []
    for case in np.unique(cases):
        mine = cases == case
        per_case.append(
            np.mean([cost[mine & (groups == g)].mean() for g in np.unique(groups[mine])])
        )
    return float(np.mean(per_case))


def pair_of(data: dict[str, np.ndarray]) -> np.ndarray:
    """Per row, the bracket pair it comes from (bracket rows) or whose response made it
    (real_curve rows); "" for the rest."""
    names = data["name"].astype(str)
    via = np.array([n.split(PAIR_MARK, 1)[1] if PAIR_MARK in n else "" for n in names])
    kind = data["kind"]
    own = np.isin(kind, ("bracket", "bracket_target"))
    return np.where(own, names, np.where(kind == "real_curve", via, ""))


def bracket_folds(data: dict[str, np.ndarray], scene_groups: dict[str, str]) -> list[list[str]]:
    """The bracket train pairs in BRACKET_FOLDS folds, whole scene groups to a fold."""
    mine = (data["kind"] == "bracket") & (data["split"] == "train")
    by_group: dict[str, list[str]] = {}
    for pair in sorted(set(map(str, data["name"][mine]))):
        by_group.setdefault(scene_groups.get(pair, pair), []).append(pair)
    folds: list[list[str]] = [[] for _ in range(BRACKET_FOLDS)]
    for i, group in enumerate(sorted(by_group)):
        folds[i % BRACKET_FOLDS] += by_group[group]
    return [f for f in folds if f]


def _bracket_cv(
    data: dict[str, np.ndarray], options: FitOptions, scene_groups: dict[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out probabilities for the bracket train pairs, a fold of scene groups at a time:
    each fold's estimator trained on everything but those pairs and the photos their
    responses made."""
    pair = pair_of(data)
    every = training_rows(data, [])
    first = validation_rows(data, "brackets")
    rows_all, probs_all = [], []
    for held in bracket_folds(data, scene_groups):
        keep = every[~np.isin(pair[every], held)]
        model = fit(
            data["features"][keep],
            data["ev"][keep],
            row_weights(data, keep, options),
            EstimatorConfig(),
            options,
        )
        rows = first[np.isin(pair[first], held)]
        rows_all.append(rows)
        probs_all.append(probabilities(model, data["features"][rows]))
    return np.concatenate(rows_all), np.concatenate(probs_all)


def loco(
    data: dict[str, np.ndarray],
    options: FitOptions,
    scene_groups: dict[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, ExposureEstimator]]:
    """Held-out probabilities for every validation row of every collection, and the estimator
    that never saw each collection (collections under MIN_COLLECTION photos are held out
    together). With `scene_groups` (pair -> group), the bracket train pairs are predicted by
    estimators that saw the other scene groups' pairs (BRACKET_FOLDS folds), as the shipped
    one sees all of them; without, by the estimator that saw none."""
    train_rows = (data["split"] == "train") & np.isin(data["kind"], TRAIN_KINDS)
    names = np.unique(data["collection"][train_rows])
    photos_per = {}
    for name in names:
        mine = (data["collection"] == name) & (data["kind"] == "scenario")
        photos_per[str(name)] = int((mine & (data["split"] == "train")).sum() // 2)
    photos_per["brackets"] = len(np.unique(data["name"][data["kind"] == "bracket"]))
    folds = [
        n for n in map(str, names) if photos_per.get(n, 0) >= MIN_COLLECTION or n == "brackets"
    ]
    small = [n for n in map(str, names) if n not in folds]
    rows_all, probs_all = [], []
    models: dict[str, ExposureEstimator] = {}
    for fold in folds:
        started = time.perf_counter()
        model = train(data, [fold], options)
        models[fold] = model
        if fold == "brackets" and scene_groups is not None:
            rows, probs = _bracket_cv(data, options, scene_groups)
        else:
            rows = validation_rows(data, fold)
            probs = probabilities(model, data["features"][rows])
        rows_all.append(rows)
        probs_all.append(probs)
        print(f"fold {fold}: {len(rows)} rows, {time.perf_counter() - started:.0f} s", flush=True)
    # The small collections: held out together.
    if small:
        model = train(data, small, options)
        models |= dict.fromkeys(small, model)
        rows = np.concatenate([validation_rows(data, s) for s in small])
        rows_all.append(rows)
        probs_all.append(probabilities(model, data["features"][rows]))
        print(f"fold {'+'.join(small)}: {len(rows)} rows", flush=True)
    return np.concatenate(rows_all), np.concatenate(probs_all), models


def calibrate(
    data: dict[str, np.ndarray], rows: np.ndarray, probs: np.ndarray, config: EstimatorConfig
) -> tuple[float, list[str]]:
    """The overshoot scale with the least realised cost on the held-out collections' N and C
    cases and the held-out real bracket inputs (their targets are not counted: good photos are
    the collections' N); the table of all."""
    truth = data["ev"][rows]
    cases = case_of(data, rows)
    groups = data["collection"][rows].astype(str)
    counted = np.isin(cases, ("N", "C", "R"))
    lines = ["| overshoot | realised dB lost | good: mean EV | C: bias | C: MAE | R: bias |"]
    lines.append("|---:|---:|---:|---:|---:|---:|")
    best, best_cost = 1.0, math.inf
    for overshoot in OVERSHOOT_GRID:
        used = decide(probs, replace(config, overshoot=overshoot))
        cost = realised_cost(used[counted], truth[counted], groups[counted], cases[counted])
        s = summarise(used, truth, cases)
        lines.append(
            f"| {overshoot:.1f} | {cost:.2f} | {s['good_mean_ev']:.2f} | {s['C_bias']:+.2f} | "
            f"{s['C_mae']:.2f} | {s.get('R_bias', math.nan):+.2f} |"
        )
        if cost < best_cost:
            best, best_cost = overshoot, cost
    return best, lines


def collection_table(
    data: dict[str, np.ndarray], rows: np.ndarray, ev_used: np.ndarray, label: str
) -> list[str]:
    """Markdown, one line per collection: the estimator's EV on N, C and real brackets."""
    lines = [
        f"| {label} | N photos | N: mean EV | N: share > 0.2 | C: bias | C: MAE |"
        " R: n | R: bias | R: MAE | R targets: mean EV |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    truth, cases, colls = data["ev"][rows], case_of(data, rows), data["collection"][rows]
    c_means = []
    for name in sorted(np.unique(colls)):
        sel = colls == name
        s = summarise(ev_used[sel], truth[sel], cases[sel])

        def cell(key: str, fmt: str, s: dict[str, float | int] = s) -> str:
            return format(s[key], fmt) if key in s else ""

        lines.append(
            f"| {name} | {cell('n_good', 'd')} | {cell('good_mean_ev', '.2f')} | "
            f"{cell('good_over_0.2', '.2f')} | {cell('C_bias', '+.2f')} | {cell('C_mae', '.2f')} | "
            f"{cell('R_n', 'd')} | {cell('R_bias', '+.2f')} | {cell('R_mae', '.2f')} | "
            f"{cell('Rt_mean_ev', '.2f')} |"
        )
        if "C_bias" in s and s.get("n_good", 0) >= MIN_COLLECTION:
            c_means.append(float(s["C_bias"]))
    if c_means:
        lines.append(
            f"\nC bias across collections of {MIN_COLLECTION}+ photos: "
            f"{min(c_means):+.2f} to {max(c_means):+.2f} (spread {max(c_means) - min(c_means):.2f})"
        )
    return lines


def holdout_table(
    data: dict[str, np.ndarray], model: ExposureEstimator
) -> tuple[list[str], dict[str, float | int]]:
    """The eval photos (every scenario) and the bracket val pairs, never trained on."""
    out = []
    rows = np.flatnonzero(np.isin(data["split"], ("eval", "val")))
    used = model.estimate(torch.from_numpy(data["features"][rows])).numpy()
    truth, cases = data["ev"][rows], case_of(data, rows)
    s = summarise(used, truth, cases)
    out.append("| set | n | mean EV | bias | MAE |")
    out.append("|---|---:|---:|---:|---:|")
    for case in ("N", "C", "S1", "S2", "J1", "J2", "R", "Rt"):
        sel = cases == case
        if not sel.any():
            continue
        err = used[sel] - truth[sel]
        label = {"R": "bracket val inputs", "Rt": "bracket val targets"}.get(case, f"eval {case}")
        out.append(
            f"| {label} | {int(sel.sum())} | {used[sel].mean():.2f} | {err.mean():+.2f} | "
            f"{np.abs(err).mean():.2f} |"
        )
    return out, s


def read_scene_groups(path: Path) -> dict[str, str]:
    """pairs.csv's `scene_group` of each pair (the pair itself where the column is missing)."""
    with path.open(newline="") as file:
        return {row["name"]: row.get("scene_group") or row["name"] for row in csv.DictReader(file)}


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = command_parser("training.train_estimator", __doc__)
    parser.add_argument(
        "--cache", type=Path, nargs="+", required=True, help="features from estimator_data"
    )
    parser.add_argument("--hold-out", action="append", default=[], help="collection to leave out")
    parser.add_argument("--loco", action="store_true", help="leave each collection out in turn")
    parser.add_argument(
        "--overshoot",
        type=float,
        help="the decision's overshoot scale (with --loco: instead of the calibrated one)",
    )
    parser.add_argument(
        "--pairs-csv", type=Path, help="with --loco: pairs.csv, to hold brackets out by scene group"
    )
    parser.add_argument("--epochs", type=int, default=FitOptions.epochs)
    parser.add_argument("--bracket-weight", type=float, default=FitOptions.bracket_weight)
    parser.add_argument("--real-curve-weight", type=float, default=FitOptions.real_curve_weight)
    parser.add_argument("--out", type=Path, help="where to write the estimator (.safetensors)")
    parser.add_argument("--report", type=Path, help="held-out predictions and tables (.json)")
    parser.add_argument(
        "--loco-dir", type=Path, help="with --loco: each held-out estimator, COLLECTION.safetensors"
    )
    args = parser.parse_args(argv)

    def body() -> None:
        torch.set_num_threads(1)
        data = load_tables(args.cache)
        options = FitOptions(
            epochs=args.epochs,
            bracket_weight=args.bracket_weight,
            real_curve_weight=args.real_curve_weight,
        )
        config = EstimatorConfig()
        report: dict[str, object] = {}
        if args.loco:
            groups = read_scene_groups(args.pairs_csv) if args.pairs_csv else None
            rows, probs, models = loco(data, options, groups)
            overshoot, lines = calibrate(data, rows, probs, config)
            print("\nDecision, on the held-out collections:\n" + "\n".join(lines))
            print(f"least realised cost: overshoot {overshoot}")
            if args.overshoot is not None:
                overshoot = args.overshoot
            config = replace(config, overshoot=overshoot)
            used = decide(probs, config)
            table = collection_table(data, rows, used, "held-out collection")
            print(f"\nEach collection held out (overshoot {overshoot}):\n" + "\n".join(table))
            if args.loco_dir is not None:
                for name, fold_model in models.items():
                    fold_model.set_costs(overshoot)
                    meta = {"held_out": [name], "epochs": options.epochs}
                    save_estimator(args.loco_dir / f"{name}.safetensors", fold_model, meta)
            report |= {
                "folds": sorted(models),
                "overshoot": overshoot,
                "rows": rows.tolist(),
                "ev_used": used.tolist(),
                "calibration": lines,
                "table": table,
            }
            if args.report is not None:
                np.savez_compressed(args.report.with_suffix(".npz"), rows=rows, probs=probs)
        elif args.overshoot is not None:
            config = replace(config, overshoot=args.overshoot)
        model = train(data, args.hold_out, options, config)
        lines, _ = holdout_table(data, model)
        print("\nNever trained on (eval photos, bracket val pairs):\n" + "\n".join(lines))
        report["holdout"] = lines
        if args.out is not None:
            meta = {"held_out": args.hold_out, "epochs": options.epochs, "cache": str(args.cache)}
            save_estimator(args.out, model, meta)
            print(f"wrote {args.out}")
        if args.report is not None:
            args.report.parent.mkdir(parents=True, exist_ok=True)
            args.report.write_text(json.dumps(report, indent=1) + "\n")

    return exit_status(body)


if __name__ == "__main__":
    sys.exit(main())
