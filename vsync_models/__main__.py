"""``python -m vsync_models compare A.json B.json``: the regression table without running pytest.

A and B may be baselines (``--save-baseline``) or results files, ours or the original
release's; A is the reference. The exit status is 1 only with ``--fail-on-regression``
and a regression, 2 for unreadable input, so it can gate a CI step on its own. A results
file that says it answered less than ``--min-coverage`` of its collected items is not
compared (exit 11, as in a pytest run: a partial run compares different items).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vsync_models.report.compare import compare_runs, format_comparison, load_run
from vsync_models.report.gates import GateStatus
from vsync_models.report.stats import DEFAULT_SEED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vsync_models", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmp = sub.add_parser("compare", help="compare two runs item by item (McNemar + paired bootstrap)")
    cmp.add_argument("a", type=Path, metavar="A.json", help="reference run: baseline or results file")
    cmp.add_argument("b", type=Path, metavar="B.json", help="compared run: baseline or results file")
    cmp.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    cmp.add_argument(
        "--min-drop", type=float, default=0.0, metavar="POINTS", help="smallest drop that counts (default 0)"
    )
    cmp.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a group regressed")
    cmp.add_argument("--limit", type=int, default=None, help="show at most this many changed items")
    cmp.add_argument("--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed (default 0)")
    cmp.add_argument(
        "--min-coverage",
        type=float,
        default=0.98,
        metavar="FRACTION",
        help="refuse runs that answered less of their collected items (default 0.98)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 0 < args.alpha < 1:
        print("--alpha must be between 0 and 1", file=sys.stderr)
        return 2
    try:
        a, b = load_run(args.a), load_run(args.b)
    except ValueError as exc:
        print(f"vsync compare: {exc}", file=sys.stderr)
        return 2
    partial = [r for r in (a, b) if r.coverage is not None and r.coverage < 100 * args.min_coverage]
    for run in partial:
        print(
            f"comparison refused: {run.label} answered {run.coverage:.1f}% of its collected items "
            f"(< --min-coverage {100 * args.min_coverage:.1f}%)",
            file=sys.stderr,
        )
    if partial:
        return int(GateStatus.LOW_COVERAGE)
    cmp = compare_runs(a, b, seed=args.seed)
    for line in format_comparison(cmp, args.alpha, args.min_drop, args.limit):
        print(line)
    return 1 if args.fail_on_regression and cmp.regressions(args.alpha, args.min_drop) else 0


if __name__ == "__main__":
    raise SystemExit(main())
