"""The GPU check's serving section: batching on and off, each precision and concurrency."""

from __future__ import annotations

import re
import time

import harness
import httpx
from gpu_env import GpuSampler, gpu_memory_used_mib
from gpu_plan import Plan

_INFERENCE_SUM = re.compile(r"^exposure_inference_duration_seconds_sum ([0-9.e+-]+)$", re.M)


def inference_seconds(url: str) -> float:
    """Total seconds the worker has spent in forward passes (its Prometheus histogram sum)."""
    found = _INFERENCE_SUM.search(httpx.get(url + "/metrics", timeout=10).text)
    return float(found.group(1)) if found else 0.0


def section_serving(plan: Plan, cuda: bool, budget_s: float) -> list[str]:
    """Batching on and off, each precision, each concurrency: rate, latency, GPU use."""
    deadline = time.monotonic() + budget_s
    width, height = 776, 517
    body = harness.jpeg_bytes(harness.synthetic_photo(width, height))
    checkpoint = harness.checkpoint_path(None)
    header = [
        f"{width}x{height} JPEG ({len(body)} bytes), device {plan.device}, at least "
        f"{plan.requests} requests per level (2x the concurrency if more), cap "
        f"{plan.level_seconds:g} s. Forward share: seconds in forward passes (the worker's "
        "`exposure_inference_duration_seconds`, synchronized by the copy back) over wall time.",
        "",
        "| batching | precision | conc. | requests | images/s | p50 s | p99 s | batch size "
        "(mean, counts) | GPU memory MiB | GPU util. | forward share |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    rows: list[str] = []
    for precision in plan.serving_precisions:
        for batching in ("on", "off"):
            env = {"EXPOSURE_DEVICE": plan.device, "EXPOSURE_PRECISION": precision}
            if batching == "off":
                env["EXPOSURE_MAX_BATCH_SIZE"] = "1"
            baseline = gpu_memory_used_mib() if cuda else 0.0
            server = harness.exposure_server(checkpoint, env)
            try:
                server.start(max(1.0, deadline - time.monotonic()))
                harness.drive(server.url + "/correct", body, 1, 3, 60)  # warm-up, not counted
                for concurrency in plan.concurrency:
                    left = deadline - time.monotonic()
                    if left < 2:
                        raise TimeoutError(
                            f"out of the section's {budget_s:g} s:\n" + "\n".join(rows)
                        )
                    requests = max(plan.requests, 2 * concurrency)
                    buckets = harness.batch_buckets(server.url)
                    forward = inference_seconds(server.url)
                    with GpuSampler(cuda, baseline_mib=baseline) as gpu:
                        result = harness.drive(
                            server.url + "/correct",
                            body,
                            concurrency,
                            requests,
                            min(plan.level_seconds, left),
                        )
                    forward = inference_seconds(server.url) - forward
                    batches = harness.batch_summary(buckets, harness.batch_buckets(server.url))
                    done = len(result.latencies)
                    failed = f" ({result.errors} failed)" if result.errors else ""
                    rows.append(
                        f"| {batching} | {precision} | {concurrency} | {done}{failed} "
                        f"| {done / result.wall_s:.2f} | {result.percentile(50):.3f} "
                        f"| {result.percentile(99):.3f} | {batches} | {gpu.peak_mib()} "
                        f"| {gpu.mean_utilization()} | {forward / result.wall_s:.0%} |"
                    )
                    print(rows[-1], flush=True)
            finally:
                server.stop()
    return header + rows
