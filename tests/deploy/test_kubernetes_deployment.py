"""The rendered Deployment agrees with what the image and the service actually do.

Every value is taken from its source, never repeated here: the user, port, command and health
check from the Dockerfile, the probe paths from the app's routes, the timings from
app.settings parsing the pod's own environment, the metric names from app.metrics.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import yaml

from app.metrics import Metrics
from app.routes import router
from app.security import PROBE_PATHS
from app.settings import Settings
from tests.deploy.deploy_helpers import REPO_ROOT
from tests.deploy.dockerfile import exec_form, stages
from tests.deploy.kubernetes_helpers import (
    COMPONENTS,
    KUBERNETES,
    OVERLAYS,
    Manifest,
    find,
    one,
    render,
    tool,
)

PROMETHEUS = REPO_ROOT / "deploy" / "prometheus"
ADAPTER_VALUES = KUBERNETES / "prometheus-adapter" / "values.yaml"
DEVICE_VARIANT = {"cpu": "cpu", "gpu": "cuda"}  # overlay -> Dockerfile VARIANT


def _pod(manifests: list[Manifest]) -> dict[str, Any]:
    spec: dict[str, Any] = one(manifests, "Deployment")["spec"]["template"]["spec"]
    return spec


def _container(manifests: list[Manifest]) -> dict[str, Any]:
    (container,) = _pod(manifests)["containers"]
    return dict(container)


def _cpu_cores(quantity: str) -> int:
    """A CPU quantity as the Downward API gives it with divisor 1: whole cores, rounded up."""
    cores = float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)
    return math.ceil(cores)


def pod_environment(manifests: list[Manifest]) -> dict[str, str]:
    """The EXPOSURE_* variables the container starts with (ConfigMaps, then env)."""
    container = _container(manifests)
    maps = {m["metadata"]["name"]: m.get("data", {}) for m in find(manifests, "ConfigMap")}
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(maps[source["configMapRef"]["name"]])
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
            continue
        field = variable["valueFrom"].get("resourceFieldRef")
        if field:
            assert field["resource"] == "limits.cpu" and str(field.get("divisor", "1")) == "1"
            assert field.get("containerName", container["name"]) == container["name"]
            environment[variable["name"]] = str(_cpu_cores(container["resources"]["limits"]["cpu"]))
    return environment


def pod_settings(manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The service's settings as the pod's environment makes them."""
    for name in [n for n in os.environ if n.startswith("EXPOSURE_")]:
        monkeypatch.delenv(name)
    for name, value in pod_environment(manifests).items():
        monkeypatch.setenv(name, value)
    return Settings()


def _healthcheck_url() -> str:
    healthcheck = stages()["runtime"].args("HEALTHCHECK")[-1]
    script = exec_form(healthcheck[healthcheck.index("CMD") + 3 :].strip())[-1]
    match = re.search(r"'(http://[^']+)'", script)
    assert match, f"no URL in the HEALTHCHECK: {script}"
    return match.group(1)


def _cmd_port() -> int:
    command = exec_form(stages()["runtime"].args("CMD")[-1])
    return int(command[command.index("--port") + 1])


@pytest.fixture(params=OVERLAYS)
def manifests(request: pytest.FixtureRequest) -> list[Manifest]:
    overlay: str = request.param
    return render(overlay, COMPONENTS)


def test_container_runs_the_images_command_on_its_port(manifests: list[Manifest]) -> None:
    container = _container(manifests)
    assert "command" not in container and "args" not in container, "the image's CMD must run"
    runtime = stages()["runtime"]
    (http,) = container["ports"]
    assert http["containerPort"] == _cmd_port() == urlparse(_healthcheck_url()).port
    assert str(http["containerPort"]) in runtime.args("EXPOSE")
    service = one(manifests, "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [http["name"]]
    monitor = one(manifests, "ServiceMonitor")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [
        service["spec"]["ports"][0]["name"]
    ]
    policy = one(manifests, "NetworkPolicy")
    assert [p["port"] for r in policy["spec"]["ingress"] for p in r["ports"]] == [http["name"]]


def test_probes_are_the_service_s_health_endpoints(
    manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = _container(manifests)
    routes = {getattr(route, "path", None) for route in router.routes}
    health = urlparse(_healthcheck_url()).path
    probes = {
        k: container[k]["httpGet"] for k in ("livenessProbe", "startupProbe", "readinessProbe")
    }
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == health
    assert probes["readinessProbe"]["path"] != health
    for probe in probes.values():
        assert probe["path"] in routes and probe["path"] in PROBE_PATHS
        assert probe["port"] == container["ports"][0]["name"]
    # The kubelet sends no key: the probes must stay open when EXPOSURE_API_KEYS is set.
    assert pod_settings(manifests, monkeypatch).public_probes
    # The monitor scrapes the service's own metrics path.
    monitor = one(manifests, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["path"] in routes & PROBE_PATHS


def test_probes_answer_on_the_running_service(service_url: str) -> None:
    manifests = render("gpu")
    container = _container(manifests)
    for probe in ("livenessProbe", "startupProbe", "readinessProbe"):
        path = container[probe]["httpGet"]["path"]
        assert httpx.get(service_url + path, timeout=10).status_code == 200, path
    # What Prometheus scrapes holds the series the gpu autoscaler's metric is made from.
    metrics_path = one(manifests, "ServiceMonitor")["spec"]["endpoints"][0]["path"]
    metrics = httpx.get(service_url + metrics_path, timeout=10).text
    assert f"\n{_adapter_series()} " in metrics


def test_pod_runs_as_the_image_s_user_read_only(manifests: list[Manifest]) -> None:
    user, _, group = stages()["runtime"].args("USER")[-1].partition(":")
    pod, container = _pod(manifests), _container(manifests)
    for context in (pod["securityContext"], container["securityContext"]):
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] == int(user) and context["runAsGroup"] == int(group or user)
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    secure = container["securityContext"]
    assert secure["readOnlyRootFilesystem"] is True
    assert secure["allowPrivilegeEscalation"] is False
    assert secure["capabilities"] == {"drop": ["ALL"]}
    # Uploads over 1 MB are spooled to the temporary folder: it must be writable.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert pod["automountServiceAccountToken"] is False


def test_grace_period_outlasts_the_drain(
    manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pod_settings(manifests, monkeypatch)
    grace = _pod(manifests)["terminationGracePeriodSeconds"]
    assert grace > settings.drain_delay_s + settings.request_timeout_s
    assert grace > settings.drain_delay_s + settings.shutdown_timeout_s
    # The pod must leave the Service's endpoints before the drain delay ends.
    readiness = _container(manifests)["readinessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < settings.drain_delay_s


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_environment_is_settings_the_service_knows(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = render(overlay, COMPONENTS)
    environment = pod_environment(manifests)
    unknown = [
        n for n in environment if n.removeprefix("EXPOSURE_").lower() not in Settings.model_fields
    ]
    assert not unknown, f"not settings of app/settings.py: {unknown}"
    assert "EXPOSURE_CHECKPOINT" not in environment, "the image's checkpoint is served"
    settings = pod_settings(manifests, monkeypatch)
    limits = _container(manifests)["resources"]["limits"]
    # README, Settings: in a container, the thread counts follow its share of the CPUs.
    assert settings.cpu_threads == _cpu_cores(limits["cpu"])
    if overlay == "cpu":
        assert settings.device == "cpu"
        assert settings.inference_threads == _cpu_cores(limits["cpu"])
    else:
        assert settings.device.startswith("cuda") and settings.inference_threads == 1
        assert limits["nvidia.com/gpu"] == 1
        tolerations = _pod(manifests)["tolerations"]
        assert any(t["key"] == "nvidia.com/gpu" for t in tolerations)
    secret = [v for v in _container(manifests)["env"] if v["name"] == "EXPOSURE_API_KEYS"]
    assert secret and secret[0]["valueFrom"]["secretKeyRef"]["optional"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_image_is_the_overlay_s_variant(overlay: str) -> None:
    image = _container(render(overlay))["image"]
    variant = DEVICE_VARIANT[overlay]
    assert image.rsplit(":", 1)[1] == variant
    assert f"runtime-{variant}" in stages(), "the Dockerfile builds no such variant"


def test_selectors_pick_the_deployment_s_pods(manifests: list[Manifest]) -> None:
    labels = one(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str]) -> bool:
        return bool(selector) and selector.items() <= labels.items()

    assert selects(one(manifests, "Service")["spec"]["selector"])
    assert selects(one(manifests, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"])
    assert selects(one(manifests, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"])
    for spread in _pod(manifests)["topologySpreadConstraints"]:
        assert selects(spread["labelSelector"]["matchLabels"])
    service_labels = one(manifests, "Service")["metadata"]["labels"]
    monitor = one(manifests, "ServiceMonitor")["spec"]["selector"]["matchLabels"]
    assert monitor.items() <= service_labels.items()
    target = one(manifests, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert target["name"] == one(manifests, "Deployment")["metadata"]["name"]
    assert "replicas" not in one(manifests, "Deployment")["spec"], "the autoscaler owns it"


def test_alerts_name_the_job_the_service_monitor_gives() -> None:
    monitor = one(render("gpu"), "ServiceMonitor")
    relabels = monitor["spec"]["endpoints"][0]["relabelings"]
    job = next(r["replacement"] for r in relabels if r["targetLabel"] == "job")
    compose = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert job in [c["job_name"] for c in compose["scrape_configs"]]
    jobs = set(re.findall(r'job="([^"]+)"', (PROMETHEUS / "rules" / "exposure.yml").read_text()))
    assert jobs == {job}


def _adapter_rule() -> dict[str, Any]:
    (rule,) = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]
    return dict(rule)


def _adapter_series() -> str:
    """The metric of the series the adapter's rule reads."""
    series = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", _adapter_rule()["seriesQuery"])
    assert series, "the adapter's seriesQuery names no metric"
    return series.group(0)


def test_cpu_autoscaler_scales_on_the_cpu_request() -> None:
    manifests = render("cpu")
    (metric,) = one(manifests, "HorizontalPodAutoscaler")["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert "cpu" in _container(manifests)["resources"]["requests"]


def test_gpu_autoscaler_metric_comes_from_the_adapter_rule(tmp_path: Path) -> None:
    (metric,) = one(render("gpu"), "HorizontalPodAutoscaler")["spec"]["metrics"]
    rule = _adapter_rule()
    assert metric["type"] == "Pods" and metric["pods"]["metric"]["name"] == rule["name"]["as"]
    series = _adapter_series()
    assert re.fullmatch(rule["name"]["matches"], series)
    exported = {m.name for m in Metrics().registry.collect()}
    assert series in exported, "the service exports no such metric"
    assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
    # The adapter's query, its template filled in as the adapter would, is valid PromQL.
    query = (
        rule["metricsQuery"]
        .replace("<<.Series>>", series)
        .replace("<<.LabelMatchers>>", 'namespace="photos",pod=~"exposure-gan-a|exposure-gan-b"')
        .replace("<<.GroupBy>>", "pod")
    )
    rules = tmp_path / "adapter.yml"
    rules.write_text(
        json.dumps({"groups": [{"name": "adapter", "rules": [{"record": "q", "expr": query}]}]})
    )
    result = subprocess.run(
        [tool("promtool", "apt-get install -y prometheus"), "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, shlex.join(result.args) + "\n" + result.stdout + result.stderr
