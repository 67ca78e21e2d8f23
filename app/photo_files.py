"""Photos on disk for the command line: finding them, reading, writing in their own format."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from model.photo import PHOTO_SUFFIXES, DecodedImage, ImageError, decode, encode, to_8bit

# Pillow format of the file -> how it is written back (TIFF and BMP stay TIFF and BMP).
_WRITE_AS = {
    "JPEG": "jpeg",
    "MPO": "jpeg",
    "PNG": "png",
    "WEBP": "webp",
    "TIFF": "tiff",
    "BMP": "bmp",
}

# What the command does to a photo's colour array; the alpha and ICC profile are kept.
Transform = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class PhotoJob:
    """One input file and where its result goes."""

    source: Path
    target: Path


@dataclass
class Report:
    """What a run did: files written, and the ones that failed with why."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    ignored: int = 0  # files in folders without a photo extension


def plan_jobs(inputs: Sequence[Path], output: Path) -> tuple[list[PhotoJob], int]:
    """Pairs every input photo with its output path; also returns how many files were ignored.

    A file named on the command line goes to `output/<name>`; a folder's photos go to
    `output/<path inside the folder>`, so the folder tree is kept.
    """
    jobs: list[PhotoJob] = []
    ignored = 0
    for item in inputs:
        if item.is_dir():
            for path in sorted(p for p in item.rglob("*") if p.is_file()):
                if path.suffix.lower() in PHOTO_SUFFIXES:
                    jobs.append(PhotoJob(path, output / path.relative_to(item)))
                else:
                    ignored += 1
        elif item.exists():
            jobs.append(PhotoJob(item, output / item.name))
        else:
            raise ValueError(f"{item} does not exist; accepted: photo files or folders")
    _check_targets(jobs)
    return jobs, ignored


def _check_targets(jobs: Iterable[PhotoJob]) -> None:
    seen: dict[Path, Path] = {}
    for job in jobs:
        target = job.target.resolve()
        if target == job.source.resolve():
            raise ValueError(f"{job.source} would be overwritten; choose another output folder")
        if target in seen:
            raise ValueError(f"{seen[target]} and {job.source} would both be written to {target}")
        seen[target] = job.source


def process(
    job: PhotoJob, transform: Transform, max_pixels: int, quality: int | None = None
) -> None:
    """Reads one photo, transforms its colours, writes it in its own format at `job.target`."""
    data = job.source.read_bytes()
    image = decode(data, max_pixels)
    with Image.open(io.BytesIO(data)) as header:
        fmt = _WRITE_AS.get(str(header.format), image.family)
    color = transform(image.color)
    payload = _encode(image, color, fmt, quality)
    job.target.parent.mkdir(parents=True, exist_ok=True)
    tmp = job.target.with_name(job.target.name + ".part")
    tmp.write_bytes(payload)
    tmp.replace(job.target)


def _encode(image: DecodedImage, color: np.ndarray, fmt: str, quality: int | None) -> bytes:
    if fmt in ("jpeg", "png", "webp"):
        return encode(color, image.alpha, image.icc_profile, fmt, quality)
    # TIFF and BMP, which the service never returns: 8-bit, alpha kept where the format can.
    planes = to_8bit(color)
    if image.alpha is not None and fmt == "tiff":
        planes = np.concatenate([planes, to_8bit(image.alpha)[..., None]], axis=2)
    pil = Image.fromarray(planes[..., 0] if planes.shape[2] == 1 else planes)
    out = io.BytesIO()
    options = {"icc_profile": image.icc_profile} if image.icc_profile else {}
    pil.save(out, format=fmt.upper(), **options)
    return out.getvalue()


def run_jobs(
    jobs: Sequence[PhotoJob],
    transform: Transform,
    max_pixels: int,
    quality: int | None = None,
    progress: Callable[[Iterable[PhotoJob]], Iterator[PhotoJob]] = iter,
) -> Report:
    """Processes every job; a file that cannot be read or written is reported, not fatal."""
    report = Report()
    for job in progress(jobs):
        try:
            process(job, transform, max_pixels, quality)
        except ImageError as exc:
            report.failed.append((job.source, str(exc)))
        except (OSError, ValueError) as exc:
            report.failed.append((job.source, str(exc) or type(exc).__name__))
        else:
            report.written.append(job.target)
    return report
