"""Serving throughput and latency: the service with batching on and off, and LitServe.

    python bench/serve_bench.py [--requests 32] [--rounds 3] [--concurrency 1,4,16,64]
    python bench/serve_bench.py --only on --baseline ../old --baseline ../old --alternate \
        --rounds 4 --concurrency 1,16          # this checkout against another, ABBA

Starts one deployment at a time as a subprocess on 127.0.0.1 (a free port, the CPU, the same
checkpoint), warms it up with requests that are not counted, sends the same JPEG from an async
httpx client at each concurrency (the same number of uploads for every deployment), stops it,
and goes on to the next: no deployment runs while another is measured. Each round visits every
deployment in turn, so slow drift in the machine's speed is shared among them; with --alternate,
odd rounds visit them in reverse (A B, then B A). --baseline serves another checkout of this
repository (its code and its shipped checkpoint) as one more deployment; given twice, the
two copies show how far the method itself spreads. Progress goes to stderr; stdout gets one
markdown table, ordered by server, batching and concurrency, then each round's images/s and
p50 latency with their medians. A script that prints numbers, not a timed test.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import harness
import numpy as np

HEADER = (
    "| deployment | conc. | requests | images/s | MP/s | p50 s | p95 s | p99 s "
    "| batch size (mean, counts) | peak RSS MiB |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"
)
# What a LitServe deployment gets by default: its best measured configuration on the 2-core
# benchmark machine (docs/benchmarks.md), workers x torch threads, as many threads as ours.
LITSERVE_DEFAULT = "2x1"


def litserve_server(checkpoint: Path, config: str, batch_timeout: float) -> harness.Server:
    """LitServe with WORKERSxTHREADS: workers per device, torch threads in each worker."""
    workers, threads = config.split("x")
    script = Path(__file__).resolve().parent / "litserve_server.py"
    args = [sys.executable, str(script), "--checkpoint", str(checkpoint), "--port", "{port}"]
    args += [
        "--estimator",
        str(harness.REPO_ROOT / "checkpoints" / "exposure-estimator.safetensors"),
    ]
    args += ["--max-batch-size", "8", "--batch-timeout", str(batch_timeout)]
    args += ["--workers", workers, "--threads", threads]
    # LitServe spawns its workers, which import torch again: slow to start on 2 busy cores.
    return harness.Server(args, {}, "/health", start_timeout_s=600)


def exposure(
    checkpoint: Path, env: dict[str, str], checkout: Path = harness.REPO_ROOT
) -> Callable[[], harness.Server]:
    return lambda: harness.exposure_server(checkpoint, env, checkout)


def litserve(checkpoint: Path, config: str, timeout: float) -> Callable[[], harness.Server]:
    return lambda: litserve_server(checkpoint, config, timeout)


def litserve_name(config: str) -> str:
    workers, threads = config.split("x")
    return f"LitServe, {workers} worker(s) x {threads} torch thread(s), batch 8"


@dataclass
class Tally:
    """One deployment's results at one concurrency, summed over rounds."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0
    peak_rss: int = 0
    rounds: list[tuple[float, float]] = field(default_factory=list)  # (images/s, p50 s) each
    batches: dict[str, float] = field(default_factory=dict)  # batch-size histogram, summed
    stages: dict[str, list[float]] = field(default_factory=dict)  # [seconds, images] by stage


def row(name: str, concurrency: int, tally: Tally, ours: bool, mp: float) -> str:
    rate = len(tally.latencies) / tally.wall_s if tally.wall_s else 0.0
    pct = np.percentile(tally.latencies, [50, 95, 99]) if tally.latencies else [float("nan")] * 3
    failed = f" ({tally.errors} failed)" if tally.errors else ""
    batches = harness.batch_summary({}, tally.batches) if ours else "n/a"
    return (
        f"| {name} | {concurrency} | {len(tally.latencies)}{failed} | {rate:.2f} "
        f"| {rate * mp:.2f} | {pct[0]:.3f} | {pct[1]:.3f} | {pct[2]:.3f} | {batches} "
        f"| {tally.peak_rss / 2**20:.0f} |"
    )


def run_round(
    name: str,
    server: harness.Server,
    body: bytes,
    args: argparse.Namespace,
    tallies: dict[int, Tally],
) -> None:
    """Starts one deployment, warms it up, sends one round at every level, stops it."""
    ours = name.startswith("exposure")
    server.start(server.start_timeout_s)
    try:
        # Not counted: first requests pay for lazy imports, allocations and kernel choices.
        warm = max(tallies)
        harness.drive(server.url + "/correct", body, warm, 2 * warm, args.max_seconds)
        for concurrency, tally in tallies.items():
            page = harness.metrics_text(server.url) if ours else ""
            before = harness.batch_buckets(server.url, page) if ours else {}
            stages_before = harness.stage_totals(page)
            server.reset_peak()
            requests = max(args.requests, 2 * concurrency)
            result = harness.drive(
                server.url + "/correct", body, concurrency, requests, args.max_seconds
            )
            tally.latencies += result.latencies
            tally.errors += result.errors
            tally.wall_s += result.wall_s
            tally.peak_rss = max(tally.peak_rss, server.peak_rss)
            if ours:
                page = harness.metrics_text(server.url)
                after = harness.batch_buckets(server.url, page)
                for key, value in after.items():
                    tally.batches[key] = tally.batches.get(key, 0.0) + value - before.get(key, 0.0)
                for stage, (seconds, count) in harness.stage_totals(page).items():
                    was = stages_before.get(stage, (0.0, 0.0))
                    total = tally.stages.setdefault(stage, [0.0, 0.0])
                    total[0] += seconds - was[0]
                    total[1] += count - was[1]
            rate = len(result.latencies) / result.wall_s if result.wall_s else 0.0
            tally.rounds.append((rate, result.percentile(50)))
            print(f"{name}, c={concurrency}: {rate:.2f} images/s", file=sys.stderr, flush=True)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", help="default: the shipped one, else an untrained one")
    parser.add_argument(
        "--requests", type=int, default=32, help="per round and level (at least 2x conc.)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds (each visits every deployment)"
    )
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="cap per round")
    parser.add_argument("--size", default="776x517", help="photo WIDTHxHEIGHT (0.4 MP)")
    parser.add_argument(
        "--only", default="on,off,litserve", help="deployments to run (also: one-lane, full-pool)"
    )
    parser.add_argument(
        "--litserve",
        default=LITSERVE_DEFAULT,
        help="LitServe configurations, WORKERSxTHREADS, comma-separated (e.g. 1x2,2x1)",
    )
    parser.add_argument("--litserve-timeout", type=float, default=0.01, help="batch_timeout s")
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        type=Path,
        help="another checkout to serve as one more deployment (repeatable)",
    )
    parser.add_argument("--alternate", action="store_true", help="odd rounds in reverse order")
    args = parser.parse_args()
    levels = sorted({int(c) for c in args.concurrency.split(",")})
    width, height = (int(v) for v in args.size.split("x"))
    body = harness.jpeg_bytes(harness.synthetic_photo(width, height))
    args.mp = width * height / 1e6
    checkpoint = harness.checkpoint_path(args.checkpoint)
    available = {
        "on": [("exposure, batching on", exposure(checkpoint, {}))],
        "off": [("exposure, batching off", exposure(checkpoint, {"EXPOSURE_MAX_BATCH_SIZE": "1"}))],
        # One forward pass at a time with all of torch's threads: what the lanes gain.
        "one-lane": [
            (
                "exposure, batching on, 1 lane",
                exposure(checkpoint, {"EXPOSURE_INFERENCE_THREADS": "1"}),
            )
        ],
        # Every core in the CPU pool, none kept for the lanes (the default keeps one).
        "full-pool": [
            (
                "exposure, batching on, pool on every core",
                exposure(checkpoint, {"EXPOSURE_CPU_THREADS": str(os.cpu_count() or 1)}),
            )
        ],
        "litserve": [
            (litserve_name(c), litserve(checkpoint, c, args.litserve_timeout))
            for c in args.litserve.split(",")
        ],
    }
    # Fixed order whatever --only says: ours (batching on, off, one lane), then LitServe.
    chosen = set(args.only.split(","))
    deployments = [d for key in available if key in chosen for d in available[key]]
    for index, checkout in enumerate(args.baseline, start=1):
        shipped = checkout / "checkpoints" / "exposure-gan.safetensors"
        name = f"exposure, baseline {index}: {checkout}"
        deployments.append((name, exposure(shipped, {}, checkout.resolve())))
    print(
        f"{width}x{height} JPEG ({args.mp:.2f} MP, {len(body)} bytes), checkpoint {checkpoint}, "
        f"{args.rounds} rounds per level, one deployment at a time",
        file=sys.stderr,
        flush=True,
    )
    # Rounds outermost: every deployment is measured once per round, so the machine's drift
    # over the run falls on all of them alike instead of on whichever ran last.
    tallies = {name: {c: Tally() for c in levels} for name, _ in deployments}
    for number in range(args.rounds):
        print(f"round {number + 1} of {args.rounds}", file=sys.stderr, flush=True)
        order = deployments[::-1] if args.alternate and number % 2 else deployments
        for name, make in order:
            run_round(name, make(), body, args, tallies[name])
    rows = [
        row(name, c, tally, name.startswith("exposure"), args.mp)
        for name, _ in deployments
        for c, tally in tallies[name].items()
    ]
    print(HEADER + "\n" + "\n".join(rows))
    print("\n| deployment | conc. | images/s by round | median | p50 s by round | median |")
    print("|---|---:|---|---:|---|---:|")
    for name, _ in deployments:
        for c, tally in tallies[name].items():
            rates = [r for r, _ in tally.rounds]
            p50s = [p for _, p in tally.rounds]
            print(
                f"| {name} | {c} | {' '.join(f'{r:.2f}' for r in rates)} "
                f"| {np.median(rates):.2f} | {' '.join(f'{p:.3f}' for p in p50s)} "
                f"| {np.median(p50s):.3f} |"
            )
    stage_table(deployments, tallies)


def stage_table(
    deployments: list[tuple[str, Callable[[], harness.Server]]],
    tallies: dict[str, dict[int, Tally]],
) -> None:
    """Mean milliseconds per image in each stage (exposure_stage_duration_seconds), for the
    deployments that export it; queue and pool_wait are waiting, the others work."""
    names = sorted({s for per in tallies.values() for t in per.values() for s in t.stages})
    if not names:
        return
    print(f"\n| deployment | conc. | {' | '.join(names)} |  (mean ms per image)")
    print("|---|---:|" + "---:|" * len(names))
    for name, _ in deployments:
        for c, tally in tallies[name].items():
            if not tally.stages:
                continue
            cells = [
                f"{1000 * s / n:.1f}" if n else "-"
                for s, n in (tally.stages.get(stage, [0.0, 0.0]) for stage in names)
            ]
            print(f"| {name} | {c} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
