"""Serving throughput and latency: the service with batching on and off, and LitServe.

    python bench/serve_bench.py [--requests 32] [--concurrency 1,4,16,64] [--max-seconds 90]

Starts each deployment as a subprocess on 127.0.0.1 (a free port, EXPOSURE_DEVICE=cpu),
sends the same JPEG from an async httpx client at each concurrency (bounded in requests and
seconds), and prints one markdown table. A script that prints numbers, not a timed test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def run(name: str, server: Server, body: bytes, mp: float, args: argparse.Namespace) -> list[str]:
    rows = []
    server.start(server.start_timeout_s)
    try:
        drive(server.url + "/correct", body, 1, 3, 60)  # warm-up, not counted
        for concurrency in args.concurrency:
            requests = max(args.requests, 2 * concurrency)
            exposure = name.startswith("exposure")
            before = batch_buckets(server.url) if exposure else {}
            server.reset_peak()
            result = drive(server.url + "/correct", body, concurrency, requests, args.max_seconds)
            batches = batch_summary(before, batch_buckets(server.url)) if exposure else "n/a"
            rate = len(result.latencies) / result.wall_s
            row = (
                f"| {name} | {concurrency} | {len(result.latencies)}"
                f"{f' ({result.errors} failed)' if result.errors else ''} | {rate:.2f} "
                f"| {rate * mp:.2f} | {result.percentile(50):.3f} | {result.percentile(95):.3f} "
                f"| {result.percentile(99):.3f} | {batches} | {server.peak_rss / 2**20:.0f} |"
            )
            print(row, flush=True)
            rows.append(row)
    finally:
        server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", help="default: the shipped one, else an untrained one")
    parser.add_argument("--requests", type=int, default=32, help="per level (at least 2x conc.)")
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--max-seconds", type=float, default=90.0, help="cap per level")
    parser.add_argument("--size", default="776x517", help="photo WIDTHxHEIGHT (0.4 MP)")
    parser.add_argument("--only", default="on,off,litserve", help="deployments to run")
    parser.add_argument("--litserve-timeout", type=float, default=0.01, help="batch_timeout s")
    args = parser.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    width, height = (int(v) for v in args.size.split("x"))
    body = jpeg_bytes(synthetic_photo(width, height))
    mp = width * height / 1e6
    checkpoint = checkpoint_path(args.checkpoint)
    deployments = {
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
    print(f"{width}x{height} JPEG ({mp:.2f} MP, {len(body)} bytes), checkpoint {checkpoint}\n")
    print(HEADER, flush=True)
    rows = []
    for key in args.only.split(","):
        name, server = deployments[key]
        rows += run(name, server, body, mp, args)
    print("\n" + HEADER + "\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
