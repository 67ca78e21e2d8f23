"""Device names resolve the same way for the service and for training."""

from __future__ import annotations

import pytest
import torch

from model.device import pick_device


def test_device_names_are_validated() -> None:
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        assert pick_device("auto", local_rank=0) == torch.device("cuda:0")
    else:
        assert pick_device("auto", local_rank=1) == torch.device("cpu")
        with pytest.raises(ValueError, match="cuda:N"):
            pick_device("cuda:0")


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """What torch reports on a machine with two CUDA devices (only the count is read)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.mark.usefixtures("two_gpus")
def test_a_cuda_device_always_carries_its_index() -> None:
    # torch.cuda.set_device and DDP's device_ids reject a bare "cuda".
    assert pick_device("cuda") == torch.device("cuda:0")
    assert pick_device("auto") == torch.device("cuda:0")
    # Under torchrun each process takes its local rank's GPU.
    assert pick_device("cuda", local_rank=1) == torch.device("cuda:1")
    assert pick_device("auto", local_rank=1) == torch.device("cuda:1")
    # A device the user named keeps its index.
    assert pick_device("cuda:1", local_rank=0) == torch.device("cuda:1")
    with pytest.raises(ValueError, match="index 2"):
        pick_device("cuda", local_rank=2)
