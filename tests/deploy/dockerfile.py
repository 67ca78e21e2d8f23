"""The Dockerfile, parsed: its stages and their instructions, for the tests that check what the
image runs (the image itself is built by deploy/container-test)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tests.deploy.deploy_helpers import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"


@dataclass
class Stage:
    """One FROM ... AS name stage: its instructions as (keyword, argument text)."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [text for key, text in self.instructions if key == keyword]


def stages() -> dict[str, Stage]:
    """Parses the Dockerfile: continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for line in lines:
        keyword, _, text = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            parts = text.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else parts[0]
            current = found[name] = Stage(name, parts[0])
        elif current is not None:
            current.instructions.append((keyword.upper(), text.strip()))
    return found


def exec_form(text: str) -> list[str]:
    """The argument list of an exec-form instruction (CMD ["a", "b"])."""
    value = json.loads(text)
    assert isinstance(value, list), f"{text} is not in exec form"
    return [str(v) for v in value]
