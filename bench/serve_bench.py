"""Serving throughput and latency: the service with batching on and off, and LitServe.

    python bench/serve_bench.py [--requests 32] [--rounds 2] [--concurrency 1,4,16,64]

Starts each deployment as a subprocess on 127.0.0.1 (a free port, EXPOSURE_DEVICE=cpu),
sends the same JPEG from an async httpx client at each concurrency (bounded in requests and
seconds; the deployments take turns, round by round), and prints one markdown table. A
script that prints numbers, not a timed test.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from harness import (
    Server,
    batch_buckets,
    batch_summary,
    checkpoint_path,
    drive,
    exposure_server,
    jpeg_bytes,
    synthetic_photo,
)

HEADER = (
    "| deployment | conc. | requests | images/s | MP/s | p50 s | p95 s | p99 s "
    "| batch size (mean, counts) | peak RSS MiB |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"
)


def litserve_server(checkpoint: Path, max_batch_size: int, batch_timeout: float) -> Server:
    script = Path(__file__).resolve().parent / "litserve_server.py"
    args = [sys.executable, str(script), "--checkpoint", str(checkpoint), "--port", "{port}"]
    args += ["--max-batch-size", str(max_batch_size), "--batch-timeout", str(batch_timeout)]
    # LitServe spawns its workers, which import torch again: slow to start on 2 busy cores.
    return Server(args, {}, "/health", start_timeout_s=600)


@dataclass
class Tally:
    """One deployment's results at one concurrency, summed over rounds."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0
    peak_rss: int = 0


def measure(
    deployments: list[tuple[str, Server]], concurrency: int, body: bytes, args: argparse.Namespace
) -> dict[str, tuple[Tally, str]]:
    """Drives every deployment at one concurrency, round by round, taking turns.

    Taking turns within each level spreads any drift of the machine's speed (other tenants,
    thermal limits) evenly over the deployments, where running one deployment after another
    would hand all of it to whichever ran during the slow minutes.
    """
    requests = max(args.requests, 2 * concurrency)
    tallies = {name: Tally() for name, _ in deployments}
    before = {name: batch_buckets(server.url) for name, server in deployments if _ours(name)}
    for _ in range(args.rounds):
        for name, server in deployments:
            server.reset_peak()
            result = drive(server.url + "/correct", body, concurrency, requests, args.max_seconds)
            tally = tallies[name]
            tally.latencies += result.latencies
            tally.errors += result.errors
            tally.wall_s += result.wall_s
            tally.peak_rss = max(tally.peak_rss, server.peak_rss)
    return {
        name: (
            tallies[name],
            batch_summary(before[name], batch_buckets(server.url)) if _ours(name) else "n/a",
        )
        for name, server in deployments
    }


def _ours(name: str) -> bool:
    return name.startswith("exposure")


def row(name: str, concurrency: int, tally: Tally, batches: str, mp: float) -> str:
    rate = len(tally.latencies) / tally.wall_s if tally.wall_s else 0.0
    pct = np.percentile(tally.latencies, [50, 95, 99]) if tally.latencies else [float("nan")] * 3
    failed = f" ({tally.errors} failed)" if tally.errors else ""
    return (
        f"| {name} | {concurrency} | {len(tally.latencies)}{failed} | {rate:.2f} "
        f"| {rate * mp:.2f} | {pct[0]:.3f} | {pct[1]:.3f} | {pct[2]:.3f} | {batches} "
        f"| {tally.peak_rss / 2**20:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", help="default: the shipped one, else an untrained one")
    parser.add_argument(
        "--requests", type=int, default=32, help="per round and level (at least 2x conc.)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="turns each deployment takes")
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--max-seconds", type=float, default=90.0, help="cap per round")
    parser.add_argument("--size", default="776x517", help="photo WIDTHxHEIGHT (0.4 MP)")
    parser.add_argument("--only", default="on,off,litserve", help="deployments to run")
    parser.add_argument("--litserve-timeout", type=float, default=0.01, help="batch_timeout s")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    width, height = (int(v) for v in args.size.split("x"))
    body = jpeg_bytes(synthetic_photo(width, height))
    mp = width * height / 1e6
    checkpoint = checkpoint_path(args.checkpoint)
    available = {
        "on": ("exposure, batching on", exposure_server(checkpoint)),
        "off": (
            "exposure, batching off",
            exposure_server(checkpoint, {"EXPOSURE_MAX_BATCH_SIZE": "1"}),
        ),
        "litserve": (
            "LitServe, batch 8",
            litserve_server(checkpoint, 8, args.litserve_timeout),
        ),
    }
    deployments = [available[key] for key in args.only.split(",")]
    print(f"{width}x{height} JPEG ({mp:.2f} MP, {len(body)} bytes), checkpoint {checkpoint}")
    print(f"{args.rounds} rounds per level, the deployments taking turns\n", flush=True)
    rows: dict[str, list[str]] = {name: [] for name, _ in deployments}
    try:
        for _, server in deployments:
            server.start(server.start_timeout_s)
            drive(server.url + "/correct", body, 1, 3, 60)  # warm-up, not counted
        for concurrency in levels:
            for name, (tally, batches) in measure(deployments, concurrency, body, args).items():
                rows[name].append(row(name, concurrency, tally, batches, mp))
                print(rows[name][-1], flush=True)
    finally:
        for _, server in deployments:
            server.stop()
    print("\n" + HEADER + "\n" + "\n".join(r for name in rows for r in rows[name]))


if __name__ == "__main__":
    main()
