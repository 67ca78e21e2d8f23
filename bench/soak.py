"""Soak: thousands of mixed requests against an in-process server; prints RSS, threads and
open files over time. A benchmark, not a test: read the table.

    python bench/soak.py --requests 5000 --clients 8 [--checkpoint PATH]
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.main import create_app
from app.settings import Settings
from tests.app.soak_probe import sample
from tests.app.test_soak import one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--every", type=int, default=500, help="requests between samples")
    parser.add_argument("--checkpoint", type=Path, default=Settings().checkpoint)
    args = parser.parse_args()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(Settings(checkpoint=args.checkpoint, device="cpu", log_level="warning"))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while httpx.get(f"{url}/readyz", timeout=60).status_code != 200:
        time.sleep(0.2)

    print(f"{'requests':>9} {'seconds':>8} {'rss MB':>8} {'threads':>8} {'open files':>10}")
    began = time.perf_counter()
    done = 0
    with ThreadPoolExecutor(args.clients) as pool:
        while done < args.requests:
            count = min(args.every, args.requests - done)
            statuses = list(pool.map(lambda i: one(url, i), range(done, done + count)))
            done += count
            s = sample(done)
            print(
                f"{done:>9} {time.perf_counter() - began:>8.1f} {s.rss_mb:>8.1f} "
                f"{s.threads:>8} {s.open_files:>10}   5xx: {sum(x >= 500 for x in statuses)}"
            )
    server.should_exit = True


if __name__ == "__main__":
    main()
