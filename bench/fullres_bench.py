"""Full resolution: cost per megapixel at 0.4 and 24 MP, server memory, and seams.

    python bench/fullres_bench.py [--small-requests 8] [--large-requests 3] [--device cpu]

Through HTTP against the service (subprocess on 127.0.0.1, EXPOSURE_DEVICE=--device): seconds per
MP of a 0.4 MP and a 24 MP JPEG, the server's peak RSS growth over its idle RSS, and a seam
check on a smooth 4000x3000 gradient (PNG in and out, so no JPEG blocks hide or fake a step).
Then, in this process, where a 24 MP request's time and memory go, stage by stage.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import psutil
from harness import REPO_ROOT, checkpoint_path, exposure_server, jpeg_bytes, synthetic_photo
from PIL import Image


def post(url: str, body: bytes, name: str, fmt: str | None = None) -> tuple[float, bytes]:
    data = {"format": fmt} if fmt else {}
    began = time.perf_counter()
    response = httpx.post(url, files={"image": (name, body)}, data=data, timeout=300)
    elapsed = time.perf_counter() - began
    if response.status_code != 200:
        raise RuntimeError(f"{name}: HTTP {response.status_code} {response.text[:300]}")
    return elapsed, response.content


def gradient_png(width: int, height: int) -> bytes:
    """A smooth horizontal gradient, bright enough that part of it is clipped-looking."""
    row = np.linspace(60, 250, width, dtype=np.float64)
    image = np.stack([row, row * 0.9, row * 0.8], axis=1)[None].repeat(height, axis=0)
    out = io.BytesIO()
    Image.fromarray(np.round(image).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def steps(image: np.ndarray, columns: np.ndarray) -> tuple[int, int]:
    """Largest |second difference| down the rows, and along the rows within `columns`.

    Along a row only the columns whose input is below the model's clip mask count: values
    that may have clipped are filled, which steepens the ramp there on purpose.
    """
    values = image.astype(np.int32)
    down = np.abs(np.diff(values, n=2, axis=0)).max()
    across = np.abs(np.diff(values[:, columns], n=2, axis=1)).max()
    return int(down), int(across)


def stage_breakdown(checkpoint: Any) -> list[str]:
    """Time and peak RSS growth of each stage of one 24 MP request, in this process."""
    sys.path.insert(0, str(REPO_ROOT))
    import torch

    from app.processing import finish_correction, make_canvas
    from model import load_generator, predict
    from model.photo import decode, encode

    me = psutil.Process()
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.001)

    body = jpeg_bytes(synthetic_photo(6000, 4000, seed=2))
    generator = load_generator(checkpoint, torch.device("cpu"))[0].eval()
    with torch.no_grad():
        generator(torch.zeros(1, 3, 512, 512))
    threading.Thread(target=sample, daemon=True).start()
    base = me.memory_info().rss
    rows = []

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        peak[0] = me.memory_info().rss
        began = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - began
        time.sleep(0.01)
        rows.append(f"| {name} | {elapsed:.3f} | {(peak[0] - base) / 2**20:.0f} |")
        return result

    decoded = stage("decode (JPEG -> uint8 array)", lambda: decode(body, 50_000_000))
    canvas = stage("prepare (area-average to 512)", lambda: make_canvas(decoded.color, 512))
    (prediction,) = stage(
        "forward pass (1 canvas)", lambda: predict(generator, canvas.tensor[None])
    )
    color = stage(
        "apply (curve table and fill at full size, strips)",
        lambda: finish_correction(decoded.color, canvas, prediction),
    )
    stage("encode (JPEG q90)", lambda: encode(color, None, None, "jpeg"))
    done.set()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", help="default: the shipped one, else an untrained one")
    parser.add_argument("--small-requests", type=int, default=8)
    parser.add_argument("--large-requests", type=int, default=3)
    parser.add_argument("--no-stages", action="store_true", help="skip the in-process breakdown")
    parser.add_argument(
        "--device", default="cpu", help="the server's EXPOSURE_DEVICE (the breakdown: CPU)"
    )
    args = parser.parse_args()
    checkpoint = checkpoint_path(args.checkpoint)
    photos = {
        "0.4 MP (776x517)": (jpeg_bytes(synthetic_photo(776, 517, seed=1)), 776 * 517, 0),
        "24 MP (6000x4000)": (jpeg_bytes(synthetic_photo(6000, 4000, seed=2)), 6000 * 4000, 0),
    }
    counts = [args.small_requests, args.large_requests]
    server = exposure_server(checkpoint, {"EXPOSURE_DEVICE": args.device})
    server.start()
    rows = []
    try:
        url = server.url + "/correct"
        post(url, photos["0.4 MP (776x517)"][0], "warm.jpg")
        per_mp = {}
        for (name, (body, pixels, _)), count in zip(photos.items(), counts, strict=True):
            idle = server.reset_peak()
            times = []
            for _ in range(count):
                elapsed, content = post(url, body, "photo.jpg")
                times.append(elapsed)
                with Image.open(io.BytesIO(content)) as out:
                    width, height = out.size
                    assert width * height == pixels and out.format == "JPEG", (out.size, out.format)
            per_mp[name] = statistics.median(times) / (pixels / 1e6)
            growth = (server.peak_rss - idle) / 2**20
            rows.append(
                f"| {name} | {count} | {statistics.median(times):.3f} | {per_mp[name]:.3f} "
                f"| {idle / 2**20:.0f} | {growth:.0f} |"
            )
        small, large = per_mp.values()
        gradient = gradient_png(4000, 3000)
        _, content = post(url, gradient, "gradient.png", fmt="png")
        with Image.open(io.BytesIO(content)) as out:
            corrected = np.asarray(out.convert("RGB"))
        source = np.asarray(Image.open(io.BytesIO(gradient)))
        below = source[0, :, 0] < 0.96 * 255 - 1  # model.generator.MASK_START, in levels
        _, original = steps(source, below)
        down, across = steps(corrected, below)
    finally:
        server.stop()
    print("| photo | requests | median latency s | s per MP | idle RSS MiB | peak RSS growth MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\ncost per MP, 24 MP / 0.4 MP: {large / small:.2f}x (target <= 1.5x)")
    print(
        f"seams, 4000x3000 gradient: max |2nd difference| down the rows {down}, along the "
        f"rows below the clip mask {across} (input: {original}; a strip seam would be a "
        "step down the rows)"
    )
    assert corrected.shape == (3000, 4000, 3)
    assert down <= 2 and across <= original + 2, "steps in the corrected gradient"
    if not args.no_stages:
        print("\n| stage of one 24 MP request (in process) | seconds | peak RSS growth MiB |")
        print("|---|---:|---:|")
        print("\n".join(stage_breakdown(checkpoint)))


if __name__ == "__main__":
    main()
