"""A bounded soak: hundreds of mixed requests leave memory, threads and open files flat."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.main import create_app
from tests.app.conftest import http, image_bytes, make_settings, random_image, serve
from tests.app.soak_probe import Sample, sample

WARM_UP = 100
MEASURED = 300
CLIENTS = 4
UPLOADS = [
    ("/correct", image_bytes(random_image(24, 32, seed=1)), {}),
    ("/correct", image_bytes(random_image(20, 20, seed=2), "JPEG"), {"format": "webp"}),
    ("/simulate-overexposure", image_bytes(random_image(16, 24, seed=3)), {"tau": "0.7"}),
    ("/correct", b"not an image", {}),
    ("/simulate-overexposure", image_bytes(random_image(8, 8)), {"tau": "2"}),
]


def one(url: str, i: int) -> int:
    path, data, fields = UPLOADS[i % len(UPLOADS)]
    if i % 7 == 0:
        return http.get(f"{url}/metrics").status_code
    return http.post(f"{url}{path}", files={"image": ("a", data)}, data=fields).status_code


def run(url: str, start: int, count: int) -> None:
    with ThreadPoolExecutor(CLIENTS) as pool:
        assert all(s < 500 for s in pool.map(lambda i: one(url, i), range(start, start + count)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_memory_threads_and_files_stay_flat(checkpoint: Path) -> None:
    with serve(create_app(make_settings(checkpoint))) as url:
        run(url, 0, WARM_UP)
        samples: list[Sample] = [sample(WARM_UP)]
        for step in range(3):
            run(url, WARM_UP + step * 100, 100)
            samples.append(sample(WARM_UP + (step + 1) * 100))
    first = samples[0]
    table = "\n".join(str(s) for s in samples)
    for later in samples[1:]:
        assert later.rss_mb <= first.rss_mb * 1.10, table
        # Pools (HTTP connections, worker threads) may breathe by one or two, never grow.
        assert later.threads <= first.threads + 2, table
        assert later.open_files <= first.open_files + 2, table
