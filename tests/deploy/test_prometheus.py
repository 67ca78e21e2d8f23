"""Prometheus: the shipped config and rules pass promtool, and a real server scrapes the service."""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.deploy.deploy_helpers import REPO_ROOT, free_port, stop_process

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "exposure-gan.json"
P99_QUERY = (
    "histogram_quantile(0.99, sum(rate(exposure_request_duration_seconds_bucket[1m])) by (le))"
)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install -y prometheus)")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_config() -> None:
    result = _run(_tool("promtool"), "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_rules() -> None:
    rules = sorted(str(p) for p in (PROMETHEUS_DIR / "rules").glob("*.yml"))
    assert rules, "no rule files under deploy/prometheus/rules"
    result = _run(_tool("promtool"), "check", "rules", *rules)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_fire_as_their_unit_tests_expect() -> None:
    tests = sorted(str(p) for p in (PROMETHEUS_DIR / "tests").glob("*.yml"))
    result = _run(_tool("promtool"), "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def dashboard_queries() -> list[str]:
    """The dashboard's PromQL with Grafana's variables replaced by plain values."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable, value in (("$__rate_interval", "1m"), ("$__range", "5m"), ("$endpoint", ".*")):
        exprs = [e.replace(variable, value) for e in exprs]
    return exprs


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _poll(what: str, deadline: float, probe: Callable[[], Any]) -> Any:
    """Calls `probe` until it returns something truthy or the deadline passes."""
    while True:
        try:
            value = probe()
        except httpx.TransportError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_prometheus_scrapes_request_latency(service_url: str, tmp_path: Path) -> None:
    binary = _tool("prometheus")
    deadline = time.monotonic() + 50
    target = service_url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: exposure\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    prom_url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "prometheus.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address={prom_url.removeprefix('http://')}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log_file,
            stderr=log_file,
        )
    try:

        def target_up() -> bool:
            response = httpx.get(f"{prom_url}/api/v1/targets", timeout=2)
            active = response.json()["data"]["activeTargets"] if response.is_success else []
            return any(t["health"] == "up" for t in active)

        _poll("the service's target to be up", deadline, target_up)

        with httpx.Client(base_url=service_url, timeout=20) as client:
            for i in range(6):
                response = client.post("/correct", files={"image": ("p.png", _png(i))})
                assert response.status_code == 200, response.text

        def p99() -> float | None:
            response = httpx.get(f"{prom_url}/api/v1/query", params={"query": P99_QUERY})
            result = response.json()["data"]["result"] if response.is_success else []
            values = [float(sample["value"][1]) for sample in result]
            return next((v for v in values if math.isfinite(v)), None)

        value = _poll("a finite p99 latency from Prometheus", deadline, p99)
        assert 0 < value < 60

        # Every query of the Grafana dashboard parses and runs on this Prometheus.
        for expr in dashboard_queries():
            response = httpx.get(f"{prom_url}/api/v1/query", params={"query": expr})
            assert response.json()["status"] == "success", (expr, response.text)
    except BaseException:
        print(log.read_text(errors="replace")[-3000:])
        raise
    finally:
        stop_process(process)
