"""The same generator and pipeline served by LitServe with its own batching, for comparison.

    python bench/litserve_server.py --checkpoint CKPT --estimator EST --port PORT
        [--max-batch-size 8] [--workers 2] [--threads 1]

Decode, the canvas (model.prepare), the exposure estimator's EV (model.choose_ev), the forward
pass (model.predict), the full-size apply (model.apply) and encode are the service's own
functions, on the same checkpoint and estimator, placed and run by the service's Runtime
(channels_last on the CPU): the comparison is between the two serving layers (request
handling, batching, process hops), not the models. --workers worker processes on the CPU, each
with --threads torch threads.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

import litserve as ls
import numpy as np
import torch
from fastapi import Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.processing import finish_correction, make_canvas
from app.runtime import Runtime
from model import Canvas, EvChoice, Generator, choose_ev, load_estimator, load_generator
from model.photo import decode, encode

MAX_PIXELS = 50_000_000


class ExposureAPI(ls.LitAPI):  # type: ignore[misc]
    """decode -> canvas, batched forward pass, canvas -> full size -> JPEG."""

    def __init__(self, checkpoint: str, estimator: str, threads: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.checkpoint = checkpoint
        self.estimator_path = estimator
        self.threads = threads

    def setup(self, device: str) -> None:
        # Runs in each worker process: the threads are that worker's share of the cores.
        torch.set_num_threads(self.threads)
        self.runtime = Runtime(torch.device("cpu"))
        loaded = load_generator(self.checkpoint, self.runtime.device)[0]
        self.generator: Generator = self.runtime.place(loaded)
        self.working_size = self.generator.config.working_size
        self.estimator = load_estimator(self.estimator_path)[0]

    # LitServe reads this annotation (so no `from __future__ import annotations` here): a
    # starlette Request makes it parse the multipart form.
    def decode_request(self, request: Request) -> tuple[np.ndarray, Canvas, str, EvChoice]:
        upload: Any = request["image"]
        data = upload.file.read() if hasattr(upload, "file") else bytes(upload)
        decoded = decode(data, MAX_PIXELS)
        canvas = make_canvas(decoded.color, self.working_size)
        # The service's blind path: the exposure estimator's EV, on the request's CPU worker.
        return decoded.color, canvas, decoded.family, choose_ev(self.estimator, canvas, None)

    def batch(self, inputs: list[Any]) -> list[Any]:
        return inputs

    def predict(self, items: list[Any]) -> list[Any]:
        canvases = torch.stack([c.tensor for _, c, _, _ in items])
        evs = [choice.ev for *_, choice in items]
        predictions = self.runtime.predict(self.generator, canvases, evs, ["estimate"] * len(evs))
        return [(*item, p) for item, p in zip(items, predictions, strict=True)]

    def unbatch(self, output: list[Any]) -> list[Any]:
        return output

    def encode_response(self, output: Any) -> Response:
        color, canvas, family, _, out = output
        result = finish_correction(color, canvas, out)
        return Response(encode(result, None, None, family), media_type=f"image/{family}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--estimator", required=True, help="exposure estimator (.safetensors)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--batch-timeout", type=float, default=0.01)
    parser.add_argument("--workers", type=int, default=2, help="worker processes on the CPU")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    args = parser.parse_args()
    api = ExposureAPI(
        args.checkpoint,
        args.estimator,
        args.threads,
        max_batch_size=args.max_batch_size,
        batch_timeout=args.batch_timeout,
        api_path="/correct",
    )
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=args.workers, timeout=120)
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False)


if __name__ == "__main__":
    main()
