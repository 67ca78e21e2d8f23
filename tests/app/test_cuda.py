"""The CUDA path of the worker: half precision, pinned memory, outputs back on the CPU."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from app.metrics import Metrics
from app.runtime import Runtime
from app.worker import InferenceWorker
from model import apply, predict, prepare
from tests.conftest import TINY, tiny_generator
from tests.real_photos import REAL_OVEREXPOSED, shared_photo, shipped_generator

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("precision", ["auto", "bf16", "fp16", "tf32", "fp32"])
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
    # fp16 keeps 8-bit output exact to about a level; bf16 (the default) to a few; TF32's
    # 10-bit mantissa to a fraction of one.
    tolerance = {"auto": 8 / 255, "bf16": 8 / 255, "fp16": 2 / 255, "tf32": 1 / 255}.get(
        precision, 1e-4
    )
    for p, e in zip(predictions, expected, strict=True):
        assert p.fills.device.type == "cpu" and p.fills.dtype == torch.float32
        assert p.ev_source == e.ev_source
        assert abs(p.ev - e.ev) <= 4 * tolerance
        assert (p.knots - e.knots).abs().max().item() <= tolerance
        diff = (p.fills - e.fills).abs().max()
        assert diff.item() <= tolerance


@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_the_shipped_checkpoint_on_real_photos_matches_the_cpu(precision: str) -> None:
    """Real overexposed photos through the shipped checkpoint on CUDA: finite, no black
    pixels, within a level of the CPU's float32 output (bf16 by default, float32 exactly)."""
    device = torch.device("cuda")
    runtime = Runtime(device, precision)
    cpu = shipped_generator()
    placed = runtime.place(copy.deepcopy(cpu))
    for name in REAL_OVEREXPOSED:
        image = shared_photo(name)
        canvas = prepare(image, cpu.config.working_size)
        (expected,) = Runtime(torch.device("cpu")).predict(cpu, canvas.tensor[None], [1.5])
        (got,) = runtime.predict(placed, canvas.tensor[None], [1.5])
        out, ref = apply(image, canvas, got), apply(image, canvas, expected)
        assert not ((out.max(axis=-1) == 0) & (image.max(axis=-1) > 16)).any(), name
        diff = np.abs(out.astype(int) - ref.astype(int))
        assert diff.max() <= (2 if precision == "auto" else 1), name
