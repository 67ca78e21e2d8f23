"""Prints the runtime dependencies of pyproject.toml, one per line, for the image's pip install.

torch is left out: the image installs it first from the PyTorch index of its variant (CPU or
CUDA), and a plain resolve from PyPI would replace that build with the default one.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

SEPARATELY_INSTALLED = {"torch"}


def _name(requirement: str) -> str:
    for i, char in enumerate(requirement):
        if not (char.isalnum() or char in "-_."):
            return requirement[:i].lower()
    return requirement.lower()


def runtime_requirements(pyproject: Path) -> list[str]:
    """The `[project] dependencies` of `pyproject`, without the separately installed ones."""
    with pyproject.open("rb") as f:
        dependencies: list[str] = tomllib.load(f)["project"]["dependencies"]
    return [d for d in dependencies if _name(d) not in SEPARATELY_INSTALLED]


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml")
    print("\n".join(runtime_requirements(path)))


if __name__ == "__main__":
    main()
