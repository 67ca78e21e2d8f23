"""SPEC section 2's scenarios and real pairs scored through the running HTTP service.

    python bench/http_eval.py --url http://127.0.0.1:8000 --data ../shared/data/photos/eval \
        --scenario all --pairs ../shared/data/brackets/val \
        --pairs-csv ../shared/data/brackets/pairs.csv --with-ev

The same cases and tables as `python -m training.evaluate`, but each checkpoint row is what
`POST /correct` returns: JPEG inputs are sent as their JPEG bytes, S1/S2 as PNG, real pairs
as their stored files; the told-ev row sends the form field `ev`. Below each table, the
`X-Exposure-EV` values the service reported (the stops it took back).
"""

from __future__ import annotations

import argparse
import mimetypes
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.evaluate import add_case_arguments, check_case_arguments, run
from training.scenarios import Case, decode

EV_HEADER = "X-Exposure-EV"


class HttpCorrector:
    """`POST /correct` as an evaluation `Corrector`; keeps the EV each response reports."""

    def __init__(self, client: httpx.Client, output_format: str | None = None) -> None:
        self.client = client
        self.output_format = output_format
        # (row, the EV the service reported, the true EV) for every response with the header.
        self.reported: list[tuple[str, float, float | None]] = []

    def __call__(self, case: Case, evs: Sequence[float | None]) -> list[np.ndarray]:
        return [self._post(case, ev) for ev in evs]

    def _post(self, case: Case, ev: float | None) -> np.ndarray:
        filename = f"input{case.suffix}"
        mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        form = {} if ev is None else {"ev": f"{ev:.4f}"}
        if self.output_format is not None:
            form["format"] = self.output_format
        response = self.client.post(
            "/correct", files={"image": (filename, case.upload(), mime)}, data=form
        )
        if response.status_code != 200:
            raise RuntimeError(f"{case.name}: HTTP {response.status_code}: {response.text[:300]}")
        if (header := response.headers.get(EV_HEADER)) is not None:
            self.reported.append(("blind" if ev is None else "told_ev", float(header), case.ev))
        output = decode(response.content)
        if output.shape != case.input.shape:
            raise RuntimeError(f"{case.name}: sent {case.input.shape}, got {output.shape} back")
        return output

    def ev_summary(self, key: str) -> str:
        """The reported EVs since the last summary, per row; then forgets them."""
        lines = []
        for row in ("blind", "told_ev"):
            got = [(value, true) for r, value, true in self.reported if r == row]
            if not got:
                continue
            values = np.array([v for v, _ in got])
            line = (
                f"{EV_HEADER} ({key}, {row}): mean {values.mean():.2f}, min {values.min():.2f}, "
                f"max {values.max():.2f}, n {len(values)}"
            )
            errors = [v - t for v, t in got if t is not None]
            if errors:
                line += f"; minus the true ev: mean {np.mean(errors):+.2f}, "
                line += f"mean abs {np.mean(np.abs(errors)):.2f}"
            lines.append(line)
        self.reported.clear()
        return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: prints one table per scenario and for the pairs."""
    parser = argparse.ArgumentParser(
        prog="python bench/http_eval.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running service")
    parser.add_argument(
        "--format",
        choices=("jpeg", "png", "webp"),
        help="output format asked for (default: the service's, the input's family)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    add_case_arguments(parser)
    args = parser.parse_args(argv)
    check_case_arguments(parser, args)
    try:
        with httpx.Client(base_url=args.url, timeout=args.timeout) as client:
            correct = HttpCorrector(client, args.format)
            run(args, correct, correct.ev_summary)
    except (ValueError, FileNotFoundError, RuntimeError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
