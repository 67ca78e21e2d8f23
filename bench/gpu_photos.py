"""The GPU check's real-photo section: the service on CUDA against the service on the CPU.

Real overexposed photos go through `/correct` on a CUDA server (the default precision, and
fp16 to show its overflow caught) and on a CPU server (float32), PNG out. For each photo:
the largest difference in 8-bit levels, the share of values more than one level apart, and
pixels that came out black where the input was clearly not (above 16 of 255: fp16's NaN
fills did that; a near-black input legitimately maps to 0 under a strong correction). The section
fails on any black hole, failed request or difference over two levels.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import harness
import httpx
import numpy as np
from PIL import Image, ImageOps

# Relative to the shared data folder; bench/gpu_carry.py copies them for a GPU machine.
REAL_PHOTOS = [
    *(
        f"real-uploads/{name}"
        for name in (
            "apittupid_overexposed.jpg",
            "axm2-hw1_overexposed.jpg",
            "axm2-hw2_overexposed.jpg",
            "corly_overexposure.jpg",
            "elaineg_overexposed.jpg",
            "faizthahir_overexposed.jpg",
            "mvirina_overexposed.jpg",
            "pietroparini2_over.jpg",
            "tysep16_overexposed.jpg",
            "wiwass_overexposed.jpg",
        )
    ),
    "brackets/val/input/hdrps_507_MDF0007.png",
    "brackets/val/input/deepfuse_Seq37_Img3.png",
    "brackets/val/input/pmef3_Zurich_AH7C6919.png",
]
_FALLBACKS = re.compile(r"^exposure_precision_fallbacks_total ([0-9.e+]+)$", re.M)


def shared_data() -> Path:
    """Where the photos are: EXPOSURE_SHARED_DATA, else ../shared/data beside the repo."""
    given = os.environ.get("EXPOSURE_SHARED_DATA")
    return Path(given) if given else harness.REPO_ROOT.parent / "shared" / "data"


def _correct(url: str, path: Path) -> tuple[np.ndarray, str]:
    files = {"image": (path.name, path.read_bytes())}
    response = httpx.post(url + "/correct", files=files, data={"format": "png"}, timeout=120)
    if response.status_code != 200:
        raise RuntimeError(f"{path.name}: HTTP {response.status_code} {response.text[:200]}")
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    return image, response.headers.get("X-Exposure-EV", "?")


def _outputs(
    env: dict[str, str], photos: list[Path], deadline: float
) -> tuple[list[tuple[np.ndarray, str]], float]:
    """Each photo's output and EV from a server with `env`, and its float32 reruns."""
    # One image at a time: no batch cap to measure at start-up, and this is no speed test.
    env = {**env, "EXPOSURE_MAX_BATCH_SIZE": "1"}
    server = harness.exposure_server(harness.checkpoint_path(None), env)
    try:
        server.start(max(1.0, deadline - time.monotonic()))
        outputs = [_correct(server.url, photo) for photo in photos]
        found = _FALLBACKS.search(httpx.get(server.url + "/metrics", timeout=10).text)
        return outputs, float(found.group(1)) if found else float("nan")
    finally:
        server.stop()


def section_photos(
    device: str, precisions: list[str], budget_s: float, limit: int | None = None
) -> list[str]:
    """`limit`: at most this many photos (the dry run's few)."""
    deadline = time.monotonic() + budget_s
    root = shared_data()
    photos = [root / name for name in REAL_PHOTOS if (root / name).is_file()][:limit]
    if not photos:
        raise RuntimeError(f"no real photos under {root} (bench/gpu_carry.py copies them)")
    cpu = {"EXPOSURE_DEVICE": "cpu", "EXPOSURE_PRECISION": "fp32"}
    reference, _ = _outputs(cpu, photos, deadline)
    lines = [
        f"{len(photos)} real overexposed photos from {root}, PNG out; the reference is the "
        "service on the CPU in float32.",
        "",
        "| device, precision | photo | size | EV (CPU) | max diff | share > 1 level "
        "| black pixels |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    failures: list[str] = []
    for precision in precisions:
        env = {"EXPOSURE_DEVICE": device, "EXPOSURE_PRECISION": precision}
        outputs, fallbacks = _outputs(env, photos, deadline)
        for photo, (out, ev), (ref, ref_ev) in zip(photos, outputs, reference, strict=True):
            source = np.asarray(ImageOps.exif_transpose(Image.open(photo)).convert("RGB"))
            diff = np.abs(out.astype(int) - ref.astype(int))
            black = int(((out.max(axis=-1) == 0) & (source.max(axis=-1) > 16)).sum())
            lines.append(
                f"| {device} {precision} | {photo.name} | {out.shape[1]}x{out.shape[0]} "
                f"| {ev} ({ref_ev}) | {diff.max()} | {(diff > 1).mean():.2%} | {black} |"
            )
            if black or diff.max() > 2:
                failures.append(f"{precision} {photo.name}: max diff {diff.max()}, {black} black")
        lines.append(
            f"| {device} {precision} | float32 reruns (fallbacks) | {fallbacks:g} | | | | |"
        )
        print("\n".join(lines[-len(photos) - 1 :]), flush=True)
    if failures:
        raise RuntimeError("\n".join([*lines, "", "outputs off:", *failures]))
    return lines
