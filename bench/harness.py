"""Shared by the benchmarks: test photos, a server subprocess on loopback, RSS and load."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED = REPO_ROOT / "checkpoints" / "exposure-gan.safetensors"


def checkpoint_path(given: str | None) -> Path:
    """The checkpoint to serve: given, else the shipped one, else an untrained one of its
    config (speed does not depend on the weights)."""
    if given:
        return Path(given)
    if SHIPPED.exists():
        return SHIPPED
    sys.path.insert(0, str(REPO_ROOT))
    from model import Generator, GeneratorConfig, save_generator

    path = Path(tempfile.gettempdir()) / "exposure-bench-untrained.safetensors"
    save_generator(path, Generator(GeneratorConfig()))
    print(f"(no {SHIPPED.name}: benchmarking an untrained generator of the shipped config)")
    return path


def synthetic_photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth, bright photo-like image with some texture (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    base = 0.55 + 0.35 * np.sin(3.0 * x + 2.0 * y) * np.cos(2.0 * y - x)
    channels = [base * 1.1, base, base * 0.85 + 0.1 * x]
    image = np.stack([np.broadcast_to(c, (height, width)) for c in channels], axis=2)
    noise = rng.normal(0.0, 0.02, (height, width, 1)).astype(np.float32)
    photo: np.ndarray = np.clip((image + noise) * 255.0, 0, 255).astype(np.uint8)
    return photo


def jpeg_bytes(image: np.ndarray, quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server subprocess on 127.0.0.1 and a thread sampling its (tree's) peak RSS."""

    args: Sequence[str]
    env: dict[str, str]
    ready_path: str
    start_timeout_s: float = 180.0
    cwd: Path = REPO_ROOT  # the checkout whose code it runs
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    peak_rss: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 180.0) -> None:
        args = [a.replace("{port}", str(self.port)) for a in self.args]
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="bench-server-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            args, cwd=self.cwd, env={**os.environ, **self.env}, stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; log: {Path(self.log.name).read_text()[-3000:]}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    threading.Thread(target=self._sample, daemon=True).start()
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout_s} s")

    def rss(self) -> int:
        """Resident memory of the server and its child processes, in bytes."""
        assert self.proc is not None
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs)
        except psutil.Error:
            return 0

    def reset_peak(self) -> int:
        self.peak_rss = self.rss()
        return self.peak_rss

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, self.rss())
            time.sleep(0.005)

    def stop(self) -> None:
        """Ends the server and every process it started (LitServe's workers outlive their
        parent otherwise, and keep polling: they would eat the next measurement's CPU)."""
        self._stop.set()
        if self.proc is None:
            return
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            children = []
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        _, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()


def exposure_server(
    checkpoint: Path, extra_env: dict[str, str] | None = None, checkout: Path = REPO_ROOT
) -> Server:
    """The service itself, as the README starts it, from `checkout` (another version of this
    repository, to compare with) with this Python's packages."""
    args = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]
    env = {"EXPOSURE_DEVICE": "cpu", "EXPOSURE_CHECKPOINT": str(checkpoint)}
    env.update({"PYTHONPATH": str(checkout), "EXPOSURE_LOG_LEVEL": "warning", **(extra_env or {})})
    argv = [*args, "--port", "{port}", "--log-level", "warning"]
    return Server(argv, env, "/readyz", cwd=checkout)


@dataclass
class LoadResult:
    latencies: list[float]
    errors: int
    wall_s: float

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")


async def _drive(
    url: str, body: bytes, concurrency: int, requests: int, max_s: float
) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=300) as client:
        started = time.perf_counter()
        deadline = started + max_s

        async def one_client() -> None:
            nonlocal sent, errors
            while sent < requests and time.perf_counter() < deadline:
                sent += 1
                began = time.perf_counter()
                files = {"image": ("photo.jpg", body, "image/jpeg")}
                try:
                    response = await client.post(url, files=files)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - began)
                else:
                    errors += 1

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return LoadResult(latencies, errors, wall)


def drive(url: str, body: bytes, concurrency: int, requests: int, max_s: float) -> LoadResult:
    """Sends `requests` uploads (or as many as fit in `max_s`) from `concurrency` clients."""
    return asyncio.run(_drive(url, body, concurrency, requests, max_s))


_BUCKET = re.compile(r'^exposure_batch_size_bucket\{le="([^"]+)"\} ([0-9.e+]+)$', re.M)
_TOTAL = re.compile(r"^exposure_batch_size_(sum|count) ([0-9.e+]+)$", re.M)


def metrics_text(url: str) -> str:
    """The service's /metrics page."""
    return httpx.get(url + "/metrics", timeout=10).text


def batch_buckets(url: str, text: str | None = None) -> dict[str, float]:
    """Cumulative counts of the exposure_batch_size histogram by upper bound, sum and count;
    from `text` (a /metrics page already fetched) where given."""
    text = metrics_text(url) if text is None else text
    found = {le: float(count) for le, count in _BUCKET.findall(text)}
    return found | {key: float(value) for key, value in _TOTAL.findall(text)}


_STAGE = re.compile(
    r'^exposure_stage_duration_seconds_(sum|count)\{stage="([^"]+)"\} ([0-9.e+]+)$', re.M
)


def stage_totals(text: str) -> dict[str, tuple[float, float]]:
    """Seconds and images so far per stage of exposure_stage_duration_seconds, from a /metrics
    page (none on a version of the service without it)."""
    found: dict[str, dict[str, float]] = {}
    for kind, stage, value in _STAGE.findall(text):
        found.setdefault(stage, {})[kind] = float(value)
    return {stage: (v.get("sum", 0.0), v.get("count", 0.0)) for stage, v in found.items()}


def batch_summary(before: dict[str, float], after: dict[str, float]) -> str:
    """'~mean (size:batches ...)' from two snapshots of the histogram."""
    total = after.get("count", 0.0) - before.get("count", 0.0)
    if total == 0:
        return "-"
    mean = (after["sum"] - before.get("sum", 0.0)) / total
    bounds = sorted(float(k) for k in after if k not in ("sum", "count"))
    parts, previous, lower = [], 0.0, 0.0
    for bound in bounds:
        key = next(k for k in after if k not in ("sum", "count") and float(k) == bound)
        cumulative = after[key] - before.get(key, 0.0)
        if cumulative > previous and bound != float("inf"):
            label = f"{bound:g}" if bound - lower <= 1 else f"{lower + 1:g}-{bound:g}"
            parts.append(f"{label}:{cumulative - previous:g}")
        previous, lower = cumulative, bound
    return f"~{mean:.1f} ({' '.join(parts)})"
