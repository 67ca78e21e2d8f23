"""Packs what a lent GPU machine lacks into one folder to send with the checkout.

    python bench/gpu_carry.py [--out .gpu-carry]

That machine has a Python with a CUDA build of torch, numpy, Pillow, psutil and pytest, and
no network. This downloads wheels of the service's other dependencies and theirs (the versions
installed here, built for its Python 3.12 on x86-64) into OUT/wheels, and copies the real
photos of the photo section into OUT/data. About 10 MB.
`bench/gpu_check --carry OUT` installs the wheels there (no index, no dependencies resolved)
and points the photo section and the tests at the photos.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib.metadata import requires, version
from pathlib import Path

from gpu_photos import REAL_PHOTOS, shared_data
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# What the service, the load client and the tests import; the wheels carried are these and
# everything they need, as installed here, less what the machine's own torch stack provides
# (binary builds matched to it, and large).
ROOTS = ["fastapi", "uvicorn", "python-multipart", "pydantic-settings", "prometheus-client"]
ROOTS += ["safetensors", "httpx"]
KEPT_THERE = {"torch", "numpy", "pillow", "psutil", "pytest"}


def closure(roots: list[str]) -> list[str]:
    """`name==version` of the roots and their dependencies (for Linux, any Python 3), sorted."""
    environment = {"extra": "", "sys_platform": "linux", "platform_system": "Linux"}
    found: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found or name in KEPT_THERE:
            continue
        found[name] = version(name)
        for line in requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                todo.append(requirement.name)
    return sorted(f"{name}=={v}" for name, v in found.items())


PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=".gpu-carry")
    parser.add_argument("--python-version", default="3.12")
    args = parser.parse_args()
    out = Path(args.out)
    wheels = out / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    pins = closure(ROOTS)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", args.python_version, "-d", str(wheels)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    subprocess.run([*command, *pins], check=True)
    copied = 0
    for name in REAL_PHOTOS:
        source = shared_data() / name
        if source.is_file():
            target = out / "data" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copied += 1
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{out}: {len(list(wheels.glob('*.whl')))} wheels, {copied} photos, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
