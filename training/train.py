"""Train the exposure-correction GAN on a folder of correctly exposed photos.

    python -m training.train --data PHOTOS [MORE_PHOTOS ...] [--brackets PAIRS] --out runs/exp1
    torchrun --nproc-per-node 8 -m training.train --data PHOTOS --out runs/exp1   # several GPUs

The run resumes from OUT/state.pt when it exists. OUT/generator.safetensors (the EMA generator)
is what the service loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image

from model.device import pick_device
from training.config import PRESETS, TrainConfig
from training.data import ExposureDataset, load_brackets
from training.losses import build_perceptual_loss
from training.real_curves import RealCurve, response_table
from training.trainer import Batch, Trainer, forever

log = logging.getLogger("training")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
    p.add_argument(
        "--data", required=True, nargs="+", help="folders of correctly exposed photos (recursive)"
    )
    p.add_argument(
        "--brackets", help="folder of real bracket pairs: input/NAME.* (overexposed), target/NAME.*"
    )
    p.add_argument(
        "--brackets-csv",
        help="CSV with columns name, ev (stops between the frames); default: estimated per pair",
    )
    p.add_argument("--out", required=True, help="run folder: checkpoints, samples, metrics.jsonl")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--steps", type=int, help="total optimisation steps")
    p.add_argument("--batch-size", type=int, help="photos per step (per process)")
    p.add_argument("--crop", type=int, help="training crop size in pixels")
    p.add_argument("--base-channels", type=int, help="generator width")
    p.add_argument("--bracket-prob", type=float, help="share of samples from --brackets")
    p.add_argument(
        "--response-prob",
        type=float,
        default=0.0,
        help="share of photos overexposed with the --brackets pairs' camera responses",
    )
    p.add_argument("--zero-ev-prob", type=float, help="share of photos left correctly exposed")
    p.add_argument("--ev-given-prob", type=float, help="share of samples told their true EV")
    p.add_argument("--vgg-weights", help="VGG-19 weights (.pth/.safetensors, torchvision layout)")
    p.add_argument("--no-noise", action="store_true", help="ablation: no noise injection")
    p.add_argument(
        "--spectral-norm", action="store_true", help="spectral normalisation in the generator"
    )
    p.add_argument(
        "--reflect-padding",
        action="store_true",
        help="the generator's down convolutions pad by reflection, not zeros",
    )
    p.add_argument(
        "--fill-luma-range",
        type=float,
        help="bound on the fill's luminance logit around the estimate (tanh-scaled); none: free",
    )
    p.add_argument("--no-perceptual", action="store_true", help="ablation: no perceptual loss")
    p.add_argument("--no-adversarial", action="store_true", help="ablation: content losses only")
    p.add_argument(
        "--init",
        help="start from another run's state.pt or a generator .safetensors (matching tensors)",
    )
    p.add_argument(
        "--init-skip",
        nargs="*",
        default=[],
        metavar="PREFIX",
        help="with --init: tensors to train anew, by name prefix (e.g. exposure.)",
    )
    p.add_argument(
        "--freeze",
        nargs="*",
        default=[],
        metavar="PREFIX",
        help="generator tensors kept as they are, by name prefix (e.g. exposure.)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument(
        "--workers", type=int, default=1, help="data-loading processes (0: in the training one)"
    )
    p.add_argument("--seed", type=int)
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The preset with the command line's overrides applied."""
    config = PRESETS[args.preset]
    architecture: dict[str, Any] = {}
    if args.base_channels:
        architecture["base_channels"] = args.base_channels
    if args.no_noise:
        architecture["noise"] = False
    if args.spectral_norm:
        architecture["spectral_norm"] = True
    if args.reflect_padding:
        architecture["padding"] = "reflect"
    if args.fill_luma_range is not None:
        architecture["fill_luma_range"] = args.fill_luma_range
    changes: dict[str, Any] = {"generator": dataclasses.replace(config.generator, **architecture)}
    for name in ("steps", "batch_size", "crop", "seed"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    for name in ("bracket_prob", "ev_given_prob"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.zero_ev_prob is not None:
        changes["camera"] = dataclasses.replace(config.camera, zero_ev_prob=args.zero_ev_prob)
    if args.no_perceptual:
        changes["lambda_perceptual"] = 0.0
    if args.no_adversarial:
        changes["adversarial"] = False
    return config.replace(**changes)


def save_samples(trainer: Trainer, batch: Batch, path: Path) -> None:
    """A PNG grid, one row per photo: overexposed input | EMA output | ground truth."""
    inp, target, _, thumb = batch
    with torch.no_grad():
        out = trainer.ema(inp.to(trainer.device), None, thumb.to(trainer.device))
    out = out.float().cpu()
    rows = [torch.cat([i, o, t], dim=2) for i, o, t in zip(inp, out, target, strict=True)]
    grid = torch.cat(rows, dim=1).clamp(0, 1).permute(1, 2, 0).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(grid * 255).astype(np.uint8)).save(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # torchrun sets WORLD_SIZE for every process it starts, one process included: a launched
    # run always makes its process group and wraps its models in DDP, so a one-GPU torchrun
    # exercises the same path as eight.
    distributed = "WORLD_SIZE" in os.environ
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(args.device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if args.threads:
        torch.set_num_threads(args.threads)
    config = build_config(args)
    torch.manual_seed(config.seed + rank)
    out_dir = Path(args.out)

    working_size = config.generator.working_size
    brackets = (
        load_brackets(args.brackets, args.brackets_csv, working_size) if args.brackets else []
    )
    dataset = ExposureDataset(
        args.data,
        config.crop,
        config.camera,
        brackets=brackets,
        bracket_prob=config.bracket_prob,
        working_size=working_size,
        samples_per_epoch=config.batch_size * 100,
        seed=config.seed + rank,
        responses=[
            RealCurve(pair.name, pair.ev, response_table(pair.target, pair.exposed))
            for pair in brackets
        ]
        if args.response_prob
        else [],
        response_prob=args.response_prob,
    )
    log.info("%d bracket pairs from %s", len(brackets), args.brackets)
    log.info("%d photos from %s; config %s", len(dataset.photos), args.data, config)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.batch_size,
        pin_memory=device.type == "cuda",
        drop_last=True,
        num_workers=args.workers,
        worker_init_fn=_seed_worker,
        persistent_workers=args.workers > 0,
    )
    perceptual = build_perceptual_loss(None if args.no_perceptual else args.vgg_weights)
    trainer = Trainer(config, perceptual, device, distributed)
    if (out_dir / "state.pt").exists():
        trainer.load(out_dir / "state.pt")
    elif args.init:
        trainer.init_from(Path(args.init), tuple(args.init_skip))
    if args.freeze:
        frozen = trainer.freeze(tuple(args.freeze))
        log.info("%d generator tensors frozen (%s)", len(frozen), ", ".join(args.freeze))
    metadata = {
        "command": " ".join(["python -m training.train", *map(shlex.quote, sys.argv[1:])]),
        "hardware": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()} x{torch.get_num_threads()} threads",
        "world_size": dist.get_world_size() if distributed else 1,
        "process_group": dist.get_backend() if distributed else "none",
        "perceptual": type(perceptual).__name__,
        "data": str(args.data),
    }
    batches = forever(loader)
    fixed = next(batches)
    progress = _progress(config.steps, trainer.step_count, rank)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_file = (out_dir / "metrics.jsonl").open("a") if rank == 0 else None
    started = time.perf_counter()
    try:
        while trainer.step_count < config.steps:
            tensors = trainer.step(next(batches))
            step = trainer.step_count
            last = step == config.steps
            if progress is not None:
                progress.update(1)
            # Losses are read (a device sync) only at log intervals, as nanoGPT does.
            if step % config.log_every == 0 or last:
                losses = {k: float(v) for k, v in tensors.items()}
                if not all(np.isfinite(v) for v in losses.values()):
                    raise FloatingPointError(f"non-finite loss at step {step}: {losses}")
                if progress is not None:
                    progress.set_postfix({k: f"{v:.4f}" for k, v in losses.items()}, refresh=False)
                if metrics_file is not None:
                    record = {"step": step, "time_s": round(trainer.elapsed_s, 2), **losses}
                    metrics_file.write(json.dumps(record) + "\n")
                    metrics_file.flush()
            if rank != 0:
                continue
            if step % config.sample_every == 0 or last:
                save_samples(trainer, fixed, out_dir / "samples" / f"step{step:06d}.png")
            if step % config.save_every == 0 or last:
                trainer.save(out_dir, metadata)
    finally:
        if progress is not None:
            progress.close()
        if metrics_file is not None:
            metrics_file.close()
        if distributed:
            dist.destroy_process_group()
    log.info(
        "done: %d steps in %.0f s; %s",
        trainer.step_count,
        time.perf_counter() - started,
        out_dir / "generator.safetensors",
    )
    return 0


def _seed_worker(worker_id: int) -> None:
    """Each loading process draws its own samples, on one thread (the cores train the model)."""
    torch.set_num_threads(1)
    info = torch.utils.data.get_worker_info()
    if info is not None:
        dataset = info.dataset
        assert isinstance(dataset, ExposureDataset)
        dataset.rng.seed(torch.initial_seed() + worker_id)


def _progress(total: int, initial: int, rank: int) -> Any:
    if rank != 0:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is in the [train] extra; training works without it
        return None
    return tqdm(total=total, initial=initial, desc="train", mininterval=5, dynamic_ncols=True)


if __name__ == "__main__":
    sys.exit(main())
