"""Model artifacts as safetensors files: weights plus a JSON header, written atomically.

Nothing is ever unpickled, so an artifact from an untrusted source cannot run code. The
generator's checkpoints (model.checkpoint) and the exposure estimator's (model.estimator) both
use these, each with its own format string and errors.
"""

from __future__ import annotations

from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn


def write_artifact(path: str | Path, module: nn.Module, header: dict[str, str]) -> None:
    """Writes `module`'s weights (on the CPU) and `header` to `path`. Atomic replace: a reader
    (the service, a resume) never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=header)
    tmp.replace(path)


def read_header(path: Path, error: type[ValueError], kind: str) -> dict[str, str]:
    """The header of the safetensors file at `path`; `error` where it is missing ("`kind` not
    found") or not a safetensors file."""
    if not path.is_file():
        raise error(f"{kind} not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises several types for corrupt files
        raise error(f"{path} is not a safetensors file: {exc}") from exc
