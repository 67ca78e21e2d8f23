"""The Kubernetes manifests rendered as a cluster would get them, and the tools that check them.

The tools (kubectl with its Kustomize, kubernetes-validate, checkov) live in a virtual
environment of their own, which .ci/run makes and names in $K8S_TOOLS_BIN; elsewhere they are
looked up on PATH. A missing tool skips its tests with the command that installs it, except
where REQUIRE_K8S_TOOLS=1 (.ci/run sets it) or CI=true: there a check that cannot run fails.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_helpers import REPO_ROOT

KUBERNETES = REPO_ROOT / "deploy" / "kubernetes"
OVERLAYS = ("cpu", "gpu")
COMPONENTS = ("monitoring", "network-policy")
INSTALL_HINT = (
    "python3 -m venv .k8s-tools && .k8s-tools/bin/pip install -r deploy/kubernetes/tools.txt"
)
# Components (Kustomize >= 3.7), `labels` and current validation: Kustomize 5.
MIN_KUSTOMIZE_MAJOR = 5

Manifest = dict[str, Any]


def tools_required() -> bool:
    """Whether a missing tool is a failure rather than a skip (CI)."""
    return os.environ.get("REQUIRE_K8S_TOOLS") == "1" or os.environ.get("CI") == "true"


def missing(reason: str, hint: str = INSTALL_HINT) -> None:
    """Skips the test for want of a tool, or fails it where the checks must run."""
    message = f"{reason}; install it: {hint}"
    if tools_required():
        pytest.fail(message)
    pytest.skip(message)


def tool(name: str, hint: str = INSTALL_HINT) -> str:
    """The path of a check tool: $K8S_TOOLS_BIN first, then PATH."""
    tools_bin = os.environ.get("K8S_TOOLS_BIN")
    path = shutil.which(name, path=tools_bin) if tools_bin else None
    path = path or shutil.which(name)
    if path is None:
        missing(f"{name} is not installed", hint)
    assert path is not None
    return path


@functools.cache
def kubectl() -> str:
    """kubectl, checked to carry a Kustomize recent enough for these manifests."""
    path = tool("kubectl")
    result = subprocess.run(
        [path, "version", "--client", "--output=json"], capture_output=True, text=True, timeout=60
    )
    version = json.loads(result.stdout or "{}").get("kustomizeVersion", "")
    major = version.removeprefix("v").split(".")[0]
    if not major.isdigit() or int(major) < MIN_KUSTOMIZE_MAJOR:
        missing(f"{path} carries Kustomize {version or '(none)'}, not {MIN_KUSTOMIZE_MAJOR}.x")
    return path


def kustomize_build(directory: Path) -> str:
    """`kubectl kustomize DIR`: what `kubectl apply -k DIR` would send."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kustomize {directory}: {result.stderr}"
    return result.stdout


@functools.cache
def render_text(overlay: str, components: tuple[str, ...] = ()) -> str:
    """An overlay as YAML; with components, through a kustomization that adds those it does
    not include already (as a platform team's own overlay would)."""
    directory = KUBERNETES / "overlays" / overlay
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    included = {Path(c).name for c in kustomization.get("components") or []}
    components = tuple(c for c in components if c not in included)
    if not components:
        return kustomize_build(directory)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def relative(path: Path) -> str:
            # Kustomize takes no absolute paths; relative ones may leave the kustomization.
            return os.path.relpath(path, root)

        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [relative(directory)],
            "components": [relative(KUBERNETES / "components" / c) for c in components],
        }
        (root / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        return kustomize_build(root)


def render(overlay: str, components: tuple[str, ...] = ()) -> list[Manifest]:
    """An overlay's manifests, parsed."""
    return [doc for doc in yaml.safe_load_all(render_text(overlay, components)) if doc]


def find(manifests: list[Manifest], kind: str) -> list[Manifest]:
    """The manifests of one kind."""
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    """The one manifest of a kind."""
    found = find(manifests, kind)
    assert len(found) == 1, f"{len(found)} {kind} manifests, expected one"
    return found[0]
