"""Real photos and the shipped checkpoint, for tests of what users actually get.

The photos come from the team's shared data beside the repository (../shared/data, or the
folder EXPOSURE_SHARED_DATA names, as on a GPU machine that was sent a few of them): never
committed, always there in CI. Elsewhere a test that needs them is skipped, except under CI,
where a missing photo is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from model import Generator, load_generator
from model.checkpoint import SHIPPED_CHECKPOINT
from model.photo import read_rgb

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EXPOSURE_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")

# Real overexposed uploads (both overflow fp16 in the shipped generator's decoder) and real
# bracket inputs, relative to SHARED_DATA.
REAL_OVEREXPOSED = [
    "real-uploads/corly_overexposure.jpg",
    "real-uploads/elaineg_overexposed.jpg",
    "brackets/val/input/hdrps_507_MDF0007.png",
    "brackets/val/input/deepfuse_Seq37_Img3.png",
]


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or a skip (a failure under CI) where it is absent."""
    path = SHARED_DATA / relative
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI runs with the shared data beside the clone")
        pytest.skip(f"{path} is not here (the team's shared data sits beside the repository)")
    return path


def shared_photo(relative: str) -> np.ndarray:
    """An RGB photo from ../shared/data (see shared_file)."""
    return read_rgb(shared_file(relative).read_bytes())


@cache
def shipped_generator() -> Generator:
    """The checkpoint the service serves, on the CPU, in eval mode (loaded once per session)."""
    return load_generator(SHIPPED_CHECKPOINT)[0]
