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
