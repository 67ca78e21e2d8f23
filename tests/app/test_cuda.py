"""The CUDA path of the worker: half precision, pinned memory, outputs back on the CPU."""

from __future__ import annotations

import pytest
import torch

from app.metrics import Metrics
from app.runtime import Runtime, autocast_dtype
from app.worker import InferenceWorker
from model import predict
from tests.conftest import TINY, tiny_generator

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_cuda_defaults_to_fp16_autocast() -> None:
    assert autocast_dtype(torch.device("cuda"), "auto") == torch.float16
    assert autocast_dtype(torch.device("cuda"), "bf16") == torch.bfloat16
    assert autocast_dtype(torch.device("cuda"), "fp32") is None


@pytest.mark.parametrize("precision", ["auto", "bf16", "fp32"])
def test_forward_on_cuda_matches_cpu(precision: str) -> None:
    device = torch.device("cuda")
    generator = tiny_generator()
    canvases = torch.rand(3, 3, TINY.working_size, TINY.working_size)
    expected = predict(generator, canvases, [0.5, 1.0, 2.0])
    worker = InferenceWorker(
        Runtime(device, precision).place(generator),
        Runtime(device, precision),
        Metrics(),
        max_batch_size=4,
        max_wait_s=0.0,
        max_queue=8,
    )
    predictions = worker._forward(canvases, [0.5, 1.0, 2.0])
    # fp16 keeps 8-bit output exact to about a level; bf16 to a few.
    tolerance = {"auto": 2 / 255, "bf16": 8 / 255, "fp32": 1e-4}[precision]
    for p, e in zip(predictions, expected, strict=True):
        assert p.fills.device.type == "cpu" and p.fills.dtype == torch.float32
        assert p.ev_source == e.ev_source
        assert abs(p.ev - e.ev) <= 4 * tolerance
        assert (p.knots - e.knots).abs().max().item() <= tolerance
        diff = (p.fills - e.fills).abs().max()
        assert diff.item() <= tolerance
