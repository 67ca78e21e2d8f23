"""Compose and Grafana provisioning refer to files, metrics and a datasource that exist."""

from __future__ import annotations

import json
import re

from app.metrics import Metrics
from tests.deploy.deploy_helpers import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "exposure-gan.json"


def _exported() -> dict[str, str]:
    """The service's metric families and their types, read from its own registry (a counter
    by its exported name, with `_total`)."""
    families = Metrics().registry.collect()
    return {f.name + ("_total" if f.type == "counter" else ""): f.type for f in families}


METRICS = _exported()
_SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


def _metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\b(exposure_[a-z_]+)", expr))
    return {n for n in names if ":" not in n}


def _family(name: str) -> str:
    for suffix in _SERIES_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in METRICS:
            return name.removesuffix(suffix)
    return name


def test_compose_mounts_exist() -> None:
    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    mounts = re.findall(r"^\s*-\s*(\./[^:\s]+):", compose, flags=re.MULTILINE)
    assert mounts, "no bind mounts found in docker-compose.yml"
    for mount in mounts:
        if mount == "./checkpoints":  # made by training; absent in a fresh clone is fine
            continue
        assert (REPO_ROOT / mount).exists(), f"docker-compose.yml mounts missing {mount}"


def test_dashboard_uses_only_exported_metrics_and_shows_each() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {_family(name) for expr in exprs for name in _metric_names(expr)}
    assert used <= set(METRICS), f"unknown metrics: {used - set(METRICS)}"
    assert used == set(METRICS), f"not on the dashboard: {set(METRICS) - used}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_dashboard_and_datasource_agree_on_the_uid() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    uid = re.search(r"^\s*uid:\s*(\S+)", provisioning.read_text(), flags=re.MULTILINE)
    assert uid is not None
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        if "datasource" in panel:
            assert panel["datasource"]["uid"] == uid.group(1), panel["title"]


def test_alert_rules_use_only_exported_metrics() -> None:
    rules = (DEPLOY / "prometheus" / "rules" / "exposure.yml").read_text()
    exprs = re.findall(r"expr:\s*\|?\s*\n?((?:.+\n)+?)\s*(?:for:|labels:|- )", rules)
    used = {_family(name) for expr in exprs for name in _metric_names(expr)}
    assert used and used <= set(METRICS), used - set(METRICS)
    assert "histogram_quantile(0.99, sum(rate(exposure_request_duration_seconds_bucket[5m]))" in (
        rules
    )
