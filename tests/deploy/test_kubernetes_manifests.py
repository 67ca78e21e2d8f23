"""deploy/kubernetes: each overlay renders, is valid for the API server and the Prometheus
Operator, passes checkov, and carries the same alerts and dashboard as docker compose."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema_rs
import pytest
import yaml

from tests.deploy.deploy_helpers import REPO_ROOT
from tests.deploy.kubernetes_helpers import (
    COMPONENTS,
    KUBERNETES,
    OVERLAYS,
    find,
    one,
    render,
    render_text,
    tool,
)

# Each overlay as shipped, and with every optional component: what a cluster may be sent.
VARIANTS = [(o, ()) for o in OVERLAYS] + [(o, COMPONENTS) for o in OVERLAYS]
VARIANT_IDS = [f"{o}{'+all' if c else ''}" for o, c in VARIANTS]
KUBERNETES_VERSION = "1.37.0"
CUSTOM_KINDS = {"ServiceMonitor": "servicemonitor", "PrometheusRule": "prometheusrule"}
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "exposure.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "exposure-gan.json"


@pytest.fixture(params=VARIANTS, ids=VARIANT_IDS)
def rendered(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """One variant rendered to a file."""
    overlay, components = request.param
    path = tmp_path / "rendered.yaml"
    path.write_text(render_text(overlay, components))
    return path


def test_overlays_render_what_the_issue_lists() -> None:
    cpu, gpu = render("cpu"), render("gpu")
    core = {"ServiceAccount", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget"}
    core |= {"HorizontalPodAutoscaler"}
    assert {m["kind"] for m in cpu} == core
    # The gpu overlay's autoscaler needs the metric scraped: it brings the monitoring component.
    assert {m["kind"] for m in gpu} == core | {"ServiceMonitor", "PrometheusRule"}
    everything = {m["kind"] for m in render("cpu", COMPONENTS)}
    assert everything == core | {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"}


def test_kubernetes_kinds_validate_against_the_api_schemas(rendered: Path) -> None:
    result = subprocess.run(
        [
            tool("kubernetes-validate"),
            "--strict",
            "--kubernetes-version",
            KUBERNETES_VERSION,
            str(rendered),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    passed = result.stdout.count(" passed for resource ")
    kinds = [d["kind"] for d in yaml.safe_load_all(rendered.read_text()) if d]
    assert passed == len([k for k in kinds if k not in CUSTOM_KINDS]), result.stdout


def test_kubernetes_validate_rejects_a_misspelt_field(tmp_path: Path) -> None:
    # The check above is only worth something if --strict catches what the API server refuses.
    deployment = one(render("cpu"), "Deployment")
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 80
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(deployment))
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "terminationGracePeriod" in result.stdout + result.stderr


def _operator_schema(kind: str) -> jsonschema_rs.Validator:
    path = KUBERNETES / "schemas" / f"{CUSTOM_KINDS[kind]}.schema.yaml"
    return jsonschema_rs.validator_for(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operator_resources_validate_against_their_schemas(overlay: str) -> None:
    manifests = render(overlay, COMPONENTS)
    for kind in CUSTOM_KINDS:
        validator = _operator_schema(kind)
        for manifest in find(manifests, kind):
            errors = [
                f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(manifest)
            ]
            assert not errors, f"{kind} {manifest['metadata']['name']}: {errors}"


def test_operator_schemas_reject_what_the_operator_would() -> None:
    manifests = render("gpu")
    monitor = one(manifests, "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    assert not _operator_schema("ServiceMonitor").is_valid(monitor)
    rule = one(manifests, "PrometheusRule")
    rule["spec"]["groups"][1]["rules"][0]["for"] = "2 minutes"
    assert not _operator_schema("PrometheusRule").is_valid(rule)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_passes(overlay: str, tmp_path: Path) -> None:
    # With every component: the plain overlays hold the same objects less the optional ones,
    # and a plain overlay fails only CKV2_K8S_6 (a pod without a NetworkPolicy), which is what
    # the network-policy component is for. Skipped rules and why: deploy/kubernetes/checkov.yaml.
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(render_text(overlay, COMPONENTS))
    result = subprocess.run(
        [
            tool("checkov"),
            "--config-file",
            str(KUBERNETES / "checkov.yaml"),
            "--output",
            "json",
            "--file",
            str(rendered),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{c['check_id']} {c['check_name']} ({c['resource']})"
        for r in reports
        for c in r["results"]["failed_checks"]
    ]
    assert not failed, failed
    assert result.returncode == 0, result.stderr[-2000:]
    assert sum(r["summary"]["passed"] for r in reports) > 50, "checkov checked almost nothing"


def test_generated_copies_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "deploy/kubernetes/generate.py", "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_prometheus_rule_carries_the_compose_alerts() -> None:
    rule = one(render("gpu"), "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES.read_text())


def test_dashboard_config_map_is_the_compose_dashboard() -> None:
    maps = [m for m in render("gpu") if m["kind"] == "ConfigMap" and "labels" in m["metadata"]]
    dashboards = [m for m in maps if m["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(dashboards) == 1
    (text,) = dashboards[0]["data"].values()
    assert json.loads(text) == json.loads(DASHBOARD.read_text())
