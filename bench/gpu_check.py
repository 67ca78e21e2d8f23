"""The GPU check: CUDA tests, serving and full-resolution benchmarks on CUDA, AMP training.

    bench/gpu_check                              # sets up .venv-gpu, then runs this
    python bench/gpu_check.py [--out runs/gpu_check.md]

Writes every table to one markdown file (and prints it). Where torch sees no CUDA device, each
CUDA section says so and why, and a short CPU run of the same section stands in, so that the
script itself is exercised on any machine (those CPU figures are no benchmark).
Each section runs in its own subprocesses with a time limit; one that fails is reported and
the others still run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from gpu_env import cuda_unavailable_reason, run, section_environment
from gpu_plan import Plan, cpu_plan, cuda_plan
from gpu_serving import section_serving
from gpu_training import section_training
from harness import REPO_ROOT


def section_tests() -> list[str]:
    """The tests marked gpu (skipped by pytest itself where there is no CUDA device)."""
    args = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider"]
    result = subprocess.run(
        args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    output = (result.stdout + result.stderr).strip()
    command = " ".join(["python", *args[1:]])
    if result.returncode != 0:
        raise RuntimeError(f"`{command}` exited {result.returncode}:\n{output[-3000:]}")
    return [f"`{command}`", "", "```", *output.splitlines()[-25:], "```"]


def section_fullres(plan: Plan) -> list[str]:
    args = [sys.executable, "bench/fullres_bench.py", "--device", plan.device, *plan.fullres_args]
    output = run(args, 420)
    return [f"`{' '.join(args[1:])}`", "", *output.strip().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="runs/gpu_check.md", help="markdown file for the tables")
    parser.add_argument("--device", default="cuda", help="the CUDA device (cuda or cuda:N)")
    args = parser.parse_args()
    started = time.perf_counter()
    reason = cuda_unavailable_reason()
    cuda = reason is None
    plan = cuda_plan(args.device) if cuda else cpu_plan()
    standin = "" if cuda else f"CUDA: skipped, {reason}. Below: a short CPU run of the same step."
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: list[str] = ["# GPU check", ""]
    if not cuda:
        report += [f"**{standin}** Its figures are no benchmark.", ""]
    report += section_environment(cuda)
    sections: dict[str, Callable[[], list[str]]] = {
        "CUDA tests (`pytest -m gpu`)": section_tests,
        "Serving (`/correct`, batching on and off)": lambda: section_serving(plan, cuda),
        "Full resolution (`bench/fullres_bench.py`)": lambda: section_fullres(plan),
        "Training": lambda: section_training(plan, cuda),
    }
    failures = 0
    for title, body in sections.items():
        print(f"\n== {title}", flush=True)
        section_began = time.perf_counter()
        report += ["", f"## {title}", ""]
        if standin:
            report += [f"_{standin}_", ""]
        try:
            report += body()
        except Exception as exc:  # reported; the next section still runs
            failures += 1
            report += ["FAILED:", "", "```", str(exc)[-3000:], "```"]
        report += ["", f"({time.perf_counter() - section_began:.0f} s)"]
        out.write_text("\n".join(report) + "\n")
    report += ["", f"Total: {time.perf_counter() - started:.0f} s, {failures} section(s) failed."]
    out.write_text("\n".join(report) + "\n")
    print("\n" + out.read_text())
    print(f"written to {out}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
