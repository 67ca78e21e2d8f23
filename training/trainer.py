"""One GAN training run: a discriminator step then a generator step, an EMA copy, checkpoints."""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from model import Generator, save_generator
from model.generator import render, without_spectral_norm
from training.config import TrainConfig
from training.discriminator import PatchDiscriminator
from training.fill_stats import pinned_share
from training.losses import lsgan_d_loss, lsgan_g_loss

log = logging.getLogger(__name__)

# (overexposed crops, target crops, EVs in stops, whole-photo thumbnails)
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


class _Forward(nn.Module):
    """The generator's image and EV estimate as one `forward`, so DistributedDataParallel sees
    the call."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(
        self, x: torch.Tensor, ev: torch.Tensor, thumb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.generator.predict(x, ev, thumb)
        # The fill learns from the samples told their EV only. On a blind sample whose estimate
        # is low the whole output is too bright, and the U-Net, which is not told which kind
        # of sample it sees, would learn to darken every clipped area toward the curve's top
        # to make up for it: flat grey patches where a told correction keeps the highlight.
        known = ~torch.isnan(ev)[:, None, None, None]
        fills = torch.where(known, out.fills, out.fills.detach())
        # Logged, not trained on: a fill whose sigmoid is pinned passes back no gradient, and
        # an unnormalised U-Net can drift there for good (docs/quality.md).
        pinned = pinned_share(x, out.fills)
        return render(x, replace(out, fills=fills)), out.ev_estimate, pinned


class Trainer:
    """Holds G, D, the EMA generator and their optimisers; `step` advances all of them once."""

    def __init__(
        self,
        config: TrainConfig,
        perceptual: nn.Module,
        device: torch.device,
        distributed: bool = False,
    ) -> None:
        self.config = config
        self.device = device
        self.core = Generator(config.generator).to(device)
        self.generator: nn.Module = _Forward(self.core)
        self.discriminator: nn.Module = PatchDiscriminator(config.d_channels, config.d_layers).to(
            device
        )
        self.ema = copy.deepcopy(self.core).eval().requires_grad_(False)
        if distributed:
            ids = [device.index] if device.type == "cuda" else None
            self.generator = DistributedDataParallel(self.generator, device_ids=ids)
            self.discriminator = DistributedDataParallel(self.discriminator, device_ids=ids)
        self.perceptual = perceptual.to(device)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=betas)
        self.step_count = 0
        self.elapsed_s = 0.0
        # bf16 autocast on CUDA: Hopper's tensor cores at full rate, no loss scaling needed.
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One generator forward; a discriminator update on its detached output, then the
        generator update. Returns the losses as tensors (no device sync here)."""
        c = self.config
        start = time.perf_counter()
        inp, target, ev_true, thumb = (t.to(self.device, non_blocking=True) for t in batch)
        # The client's EV for part of the batch, "unknown" (NaN) for the rest.
        given = torch.rand(ev_true.shape, device=self.device) < c.ev_given_prob
        ev_in = torch.where(given, ev_true, torch.full_like(ev_true, math.nan))
        losses: dict[str, torch.Tensor] = {}
        with self.autocast:
            fake, ev_estimate, pinned = self.generator(inp, ev_in, thumb)
        if c.adversarial:
            discriminator = _unwrap(self.discriminator)
            discriminator.requires_grad_(True)
            with self.autocast:
                # One forward over real and fake pairs: DDP allows one forward per backward.
                scores = self.discriminator(
                    torch.cat([inp, inp]), torch.cat([target, fake.detach()])
                )
                real_scores, fake_scores = scores.chunk(2)
                d_loss = lsgan_d_loss(real_scores, fake_scores)
            self.opt_d.zero_grad(set_to_none=True)
            torch.autograd.backward(d_loss)
            self.opt_d.step()
            losses["d"] = d_loss.detach()
            # The G phase needs gradients through D to G, never D's own (stylegan3 does so).
            discriminator.requires_grad_(False)
        with self.autocast:
            content = (fake.float() - target).abs().mean()
            perceptual = self.perceptual(fake.float(), target)
            ev_error = (ev_estimate.float() - ev_true).abs().mean()
            total = c.lambda_content * content + c.lambda_perceptual * perceptual
            total = total + c.lambda_ev * ev_error
            if c.adversarial:
                adv = lsgan_g_loss(_unwrap(self.discriminator)(inp, fake))
                total = total + c.lambda_adv * adv
                losses["g_adv"] = adv.detach()
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g.step()
        self._update_ema()
        self.step_count += 1
        if self.device.type == "cuda":
            # Kernels run after their launch returns: without the wait the clock would measure
            # launching, not training.
            torch.cuda.synchronize(self.device)
        self.elapsed_s += time.perf_counter() - start
        losses.update(
            l1=content.detach(), perc=perceptual.detach(), ev=ev_error.detach(), fill_pinned=pinned
        )
        return losses

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Warm-up: early on the EMA follows the generator closely instead of averaging noise.
        decay = min(self.config.ema_decay, (1 + self.step_count) / (10 + self.step_count))
        source = self.core
        for ema_p, p in zip(self.ema.parameters(), source.parameters(), strict=True):
            ema_p.lerp_(p.detach(), 1.0 - decay)
        for ema_b, b in zip(self.ema.buffers(), source.buffers(), strict=True):
            ema_b.copy_(b)

    def save(self, out_dir: Path, extra_metadata: dict[str, Any]) -> None:
        """Writes the resumable state and the EMA generator that the service serves."""
        out_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "generator": self.core.state_dict(),
            "discriminator": _unwrap(self.discriminator).state_dict(),
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step_count,
            "elapsed_s": self.elapsed_s,
            "config": json.dumps(asdict(self.config), sort_keys=True),
        }
        tmp = out_dir / "state.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(out_dir / "state.pt")
        metadata = {
            "step": self.step_count,
            "train_seconds": round(self.elapsed_s, 1),
            "train_config": asdict(self.config),
            **extra_metadata,
        }
        save_generator(out_dir / "generator.safetensors", without_spectral_norm(self.ema), metadata)

    def load(self, path: Path) -> None:
        """Resumes from a state file written by `save` (loaded without unpickling objects)."""
        state = torch.load(path, map_location=self.device, weights_only=True)
        saved = json.loads(state["config"])
        if saved["generator"] != asdict(self.config.generator):
            raise ValueError(
                f"{path} was trained with another generator config: {saved['generator']}"
            )
        self.core.load_state_dict(state["generator"])
        _unwrap(self.discriminator).load_state_dict(state["discriminator"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step_count = int(state["step"])
        self.elapsed_s = float(state["elapsed_s"])
        log.info("resumed from %s at step %d", path, self.step_count)

    def freeze(self, prefixes: tuple[str, ...]) -> list[str]:
        """Keeps the generator's tensors whose names start with a prefix as they are: for
        training one part against another that is settled (the fill against a tuned curve,
        `python -m training.tune_curve`). Returns the frozen tensors' names."""
        if isinstance(self.generator, DistributedDataParallel):
            raise ValueError("freezing runs in one process: DDP is built with every tensor")
        named = [(n, p) for n, p in self.core.named_parameters() if n.startswith(prefixes)]
        if not named:
            raise ValueError(f"no generator tensor starts with any of {list(prefixes)}")
        for _, param in named:
            param.requires_grad_(False)
        return [name for name, _ in named]

    def init_from(self, path: Path, skip: tuple[str, ...] = ()) -> None:
        """Starts a fresh run from another run's weights (state.pt: G, EMA and D; or a serving
        checkpoint: G): every tensor whose name and shape match is copied, the rest keep their
        initialisation, as do tensors whose names start with a prefix in `skip`. For fine-tuning,
        for carrying a run over to a changed architecture, or for training a part anew."""
        if path.suffix == ".safetensors":
            weights = {"generator": load_file(str(path))}
        else:
            weights = torch.load(path, map_location="cpu", weights_only=True)
        targets: dict[str, nn.Module] = {
            "generator": self.core,
            "ema": self.ema,
            "discriminator": _unwrap(self.discriminator),
        }
        for key, module in targets.items():
            if key == "discriminator" and key not in weights:
                continue
            # A serving checkpoint holds one generator: it initialises both G and the EMA.
            source = weights.get(key, weights["generator"])
            own = module.state_dict()
            matched = {
                k: v
                for k, v in source.items()
                if k in own and own[k].shape == v.shape and not k.startswith(skip)
            }
            module.load_state_dict(matched, strict=False)
            log.info("init %s from %s: %d of %d tensors", key, path, len(matched), len(own))


def forever(loader: torch.utils.data.DataLoader[Batch]) -> Iterator[Batch]:
    """Cycles through a data loader without end (the run is bounded by steps, not epochs)."""
    while True:
        yield from loader
