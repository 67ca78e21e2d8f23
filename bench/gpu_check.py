"""The GPU check: CUDA tests, real photos, forward passes, serving and training on CUDA.

    bench/gpu_check [--out FILE] [--deadline 540]     # the wrapper: Python, wheels, photos
    python bench/gpu_check.py [--out FILE] [--dry-run]

Writes every table to one markdown file (and prints it). The whole check has one deadline and
each section a budget within it (bench/gpu_plan.py); a section that fails or runs out of time
is reported and the next still runs. Where torch sees no CUDA device, or with --dry-run, each
section says why CUDA was skipped and runs a short CPU stand-in of the same code, so the
script is exercised on any machine (CI runs it so); those figures are no benchmark.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from gpu_env import cuda_unavailable_reason, run, section_environment
from gpu_photos import section_photos
from gpu_plan import Plan, cuda_plan, dry_plan
from gpu_serving import section_serving
from gpu_training import section_training
from harness import REPO_ROOT


def gpu_test_files() -> list[str]:
    """The test modules that hold CUDA tests: only these are collected, so the check needs
    the service's dependencies and pytest, not every development tool."""
    return sorted(
        str(path.relative_to(REPO_ROOT))
        for path in (REPO_ROOT / "tests").rglob("test_*.py")
        if "pytest.mark.gpu" in path.read_text()
    )


def section_tests(budget_s: float) -> list[str]:
    """The tests marked gpu (skipped by pytest itself where there is no CUDA device)."""
    args = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider"]
    args += gpu_test_files()
    result = subprocess.run(
        args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=budget_s, check=False
    )
    output = (result.stdout + result.stderr).strip()
    command = " ".join(["python", *args[1:]])
    if result.returncode != 0:
        raise RuntimeError(f"`{command}` exited {result.returncode}:\n{output[-3000:]}")
    return [f"`{command}`", "", "```", *output.splitlines()[-25:], "```"]


def section_forward(plan: Plan, budget_s: float) -> list[str]:
    args = [sys.executable, "bench/gpu_forward.py", "--device", plan.device]
    args += ["--precisions", ",".join(plan.forward_precisions)]
    args += ["--batches", ",".join(map(str, plan.forward_batches))]
    if plan.device == "cpu":
        args += ["--warm", "1", "--timed", "1"]
    output = run(args, budget_s)
    return [f"`python {' '.join(args[1:])}`", "", *output.strip().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="runs/gpu_check.md", help="markdown file for the tables")
    parser.add_argument("--device", default="cuda", help="the CUDA device (cuda or cuda:N)")
    parser.add_argument("--dry-run", action="store_true", help="the CPU stand-ins, even on a GPU")
    args = parser.parse_args()
    started = time.monotonic()
    reason = "--dry-run was given" if args.dry_run else cuda_unavailable_reason()
    cuda = reason is None
    plan = cuda_plan(args.device) if cuda else dry_plan()
    deadline = started + plan.deadline_s
    standin = "" if cuda else f"CUDA: skipped, {reason}. Below: a short CPU run of the same step."
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: list[str] = ["# GPU check", ""]
    if not cuda:
        report += [f"**{standin}** Its figures are no benchmark.", ""]
    report += section_environment(cuda)
    report += [f"- deadline: {plan.deadline_s:.0f} s; budgets: {plan.budgets}"]
    photo_precisions = ["auto", "fp16"] if cuda else ["auto"]
    sections: dict[str, tuple[str, Callable[[float], list[str]]]] = {
        "CUDA tests (`pytest -m gpu`)": ("tests", section_tests),
        "Real photos: CUDA against the CPU in float32": (
            "photos",
            lambda budget: section_photos(plan.device, photo_precisions, budget, plan.photos),
        ),
        "Forward passes (`bench/gpu_forward.py`)": (
            "forward",
            lambda budget: section_forward(plan, budget),
        ),
        "Serving (`/correct`, batching on and off)": (
            "serving",
            lambda budget: section_serving(plan, cuda, budget),
        ),
        "Training (bf16 autocast on CUDA)": (
            "training",
            lambda budget: section_training(plan, cuda, budget),
        ),
    }
    failures = 0
    for title, (key, body) in sections.items():
        print(f"\n== {title}", flush=True)
        began = time.monotonic()
        budget = min(plan.budgets[key], deadline - began)
        report += ["", f"## {title}", ""]
        if standin:
            report += [f"_{standin}_", ""]
        try:
            if budget < 5:
                raise TimeoutError(f"no time left before the {plan.deadline_s:.0f} s deadline")
            report += body(budget)
        except Exception as exc:  # reported; the next section still runs
            failures += 1
            report += ["FAILED:", "", "```", f"{type(exc).__name__}: {str(exc)[-3000:]}", "```"]
        report += ["", f"({time.monotonic() - began:.0f} s of a {budget:.0f} s budget)"]
        out.write_text("\n".join(report) + "\n")
    total = time.monotonic() - started
    report += ["", f"Total: {total:.0f} s, {failures} section(s) failed."]
    out.write_text("\n".join(report) + "\n")
    print("\n" + out.read_text())
    print(f"written to {out}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
