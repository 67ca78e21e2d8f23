"""Writes the monitoring component's copies of the alert rules and the Grafana dashboard.

deploy/prometheus/rules/exposure.yml and deploy/grafana/dashboards/exposure-gan.json stay the
one source (docker compose mounts them); Kustomize reads no file outside its folder, so the
component carries copies made from them here:

    python deploy/kubernetes/generate.py           # rewrite the copies
    python deploy/kubernetes/generate.py --check   # exit 1 if a copy differs (the tests run it)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "exposure.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "exposure-gan.json"
COMPONENT = REPO_ROOT / "deploy" / "kubernetes" / "components" / "monitoring"

_RULE_HEADER = """\
# Generated from deploy/prometheus/rules/exposure.yml by deploy/kubernetes/generate.py: edit
# that file and run the script. The alerts of the docker compose Prometheus, for the Prometheus
# Operator; `release: kube-prometheus-stack` as in servicemonitor.yaml.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: exposure-gan
  labels:
    app.kubernetes.io/name: exposure-gan
    release: kube-prometheus-stack
spec:
"""


def prometheus_rule(rules_text: str) -> str:
    """The PrometheusRule whose spec is the rule file's content, its comments kept."""
    lines = rules_text.splitlines()
    # The file's own header comment speaks of itself; the rules start at `groups:`.
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = [f"  {line}" if line.strip() else "" for line in lines[start:]]
    return _RULE_HEADER + "\n".join(body) + "\n"


def outputs() -> dict[Path, str]:
    """Each generated file and the content it must have."""
    return {
        COMPONENT / "prometheusrule.yaml": prometheus_rule(RULES.read_text()),
        COMPONENT / "grafana-dashboard.json": DASHBOARD.read_text(),
    }


def main(argv: list[str] | None = None) -> int:
    """Writes the copies, or with --check reports those that differ (status 1)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    args = parser.parse_args(argv)
    stale = [path for path, text in outputs().items() if _read(path) != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(REPO_ROOT)} is out of date: run {__file__}", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs().items():
        path.write_text(text)
    return 0


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())
