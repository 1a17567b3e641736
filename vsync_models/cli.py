"""``vsync``: the commands that are not a pytest run (a benchmark run is ``pytest --model NAME``).

    vsync compare A B      two runs item by item (McNemar, paired bootstrap); gates like a run
    vsync cache            what the response cache holds per model; clear a model or old answers
    vsync synth ...        generate a dataset, run the oracles (python -m vsync_models.synth)
    vsync report RUN       rebuild the results files and an HTML page of a run from its records
    vsync models           every model name, what it needs and the settings it reads

``python -m vsync_models ...`` runs the same commands. Exit statuses follow a pytest run's: 0 fine,
4 usage error or unreadable input, 11 a run below --min-coverage, 12 a gated regression.
A closed pipe (``vsync compare A B | head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from vsync_models.errors import ConfigError, VsyncError

__all__ = ["main"]

USAGE_ERROR = 4
"""pytest's status for a usage error, which the ``vsync`` commands share."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vsync",
        description="\n\n".join((__doc__ or "").replace("``", "").split("\n\n")[:2]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'vsync COMMAND --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    cmp = sub.add_parser("compare", help="compare two runs item by item (McNemar + paired bootstrap)")
    cmp.add_argument(
        "a", type=Path, metavar="A", help="reference: baseline, results file, run folder, latest"
    )
    cmp.add_argument("b", type=Path, metavar="B", help="compared: baseline, results file, run folder, latest")
    cmp.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    cmp.add_argument(
        "--min-drop", type=float, default=0.0, metavar="POINTS", help="smallest drop that counts (default 0)"
    )
    cmp.add_argument("--fail-on-regression", action="store_true", help="exit 12 when a gated group regressed")
    cmp.add_argument(
        "--gate-modalities",
        default="avt",  # compare.HEADLINE_MODALITIES (not imported: --help stays light)
        metavar="LIST",
        help="modalities --fail-on-regression gates: comma-separated, or 'all' (default avt)",
    )
    cmp.add_argument("--limit", type=int, default=None, help="show at most this many changed items")
    cmp.add_argument("--seed", type=int, default=None, help="bootstrap seed (default 0)")
    cmp.add_argument(
        "--min-coverage",
        type=float,
        default=0.98,
        metavar="FRACTION",
        help="refuse runs that answered less of their collected items, exit 11 (default 0.98)",
    )

    cache = sub.add_parser("cache", help="what the response cache holds per model; clear some of it")
    cache.add_argument("--cache-dir", type=Path, default=Path(".vsync_cache"), help="default .vsync_cache")
    cache.add_argument("--clear", metavar="MODEL", help="delete the answers of MODEL ('all': of every model)")
    cache.add_argument(
        "--older-than",
        metavar="AGE",
        help="with --clear: only answers stored longer ago than AGE (30d, 12h, 90m; a bare number is days)",
    )

    sub.add_parser("synth", help="generate a dataset or run the oracles (vsync synth --help)", add_help=False)

    rep = sub.add_parser("report", help="rebuild a run's results files and HTML page from its records")
    rep.add_argument("run", type=Path, metavar="RUN", help="a run folder (or its latest pointer)")
    rep.add_argument("--out", type=Path, default=None, help="where to write them (default RUN/rebuilt)")

    mod = sub.add_parser("models", help="every model name, what it needs and the settings it reads")
    mod.add_argument("--config", type=Path, default=None, help="config file with models.<name> sections")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["synth"]:  # its own parser, with its own --help
        from vsync_models.synth.__main__ import main as synth_main

        return _quiet_on_closed_pipe(lambda: synth_main(args_list[1:]), 0)
    args = _parser().parse_args(args_list)
    command: Callable[[argparse.Namespace], int] = _COMMANDS[args.command]
    try:
        return command(args)
    except ConfigError as exc:
        print(f"vsync {args.command}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except (VsyncError, OSError, sqlite3.Error, ValueError) as exc:  # unreadable run, full disk, busy cache
        print(f"vsync {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return USAGE_ERROR


def _quiet_on_closed_pipe(body: Callable[[], int], status: int) -> int:
    """Run ``body``; if the reader of stdout went away (``| head``), end quietly with ``status``."""
    try:
        result = body()
        sys.stdout.flush()
        return result
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit: point stdout at nothing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return status


def _print_lines(lines: Sequence[str], status: int) -> int:
    def body() -> int:
        for line in lines:
            print(line)
        return status

    return _quiet_on_closed_pipe(body, status)


# --------------------------------------------------------------------------- compare


def _compare(args: argparse.Namespace) -> int:
    from vsync_models.report.compare import compare_runs, format_comparison, load_run, parse_gate_modalities
    from vsync_models.report.gates import GateStatus
    from vsync_models.report.stats import DEFAULT_SEED

    if not 0 < args.alpha < 1:
        raise ConfigError("--alpha must be between 0 and 1")
    try:
        gated = parse_gate_modalities(args.gate_modalities)
    except ValueError as exc:
        raise ConfigError(f"--gate-modalities: {exc}") from None
    try:
        a, b = load_run(args.a), load_run(args.b)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    partial = [r for r in (a, b) if r.coverage is not None and r.coverage < 100 * args.min_coverage]
    for run in partial:
        print(
            f"comparison refused: {run.label} answered {run.coverage:.1f}% of its collected items "
            f"(< --min-coverage {100 * args.min_coverage:.1f}%)",
            file=sys.stderr,
        )
    if partial:
        return int(GateStatus.LOW_COVERAGE)
    cmp = compare_runs(a, b, seed=DEFAULT_SEED if args.seed is None else args.seed)
    regressed = cmp.regressions(args.alpha, args.min_drop, gated)
    status = int(GateStatus.REGRESSION) if args.fail_on_regression and regressed else 0
    lines = format_comparison(
        cmp, args.alpha, args.min_drop, args.limit, gated, more_hint="--limit N shows more"
    )
    if args.fail_on_regression:
        lines.append(
            f"vsync compare exit status {status}: "
            + (GateStatus.REGRESSION.meaning if status else "no gated regression")
        )
    return _print_lines(lines, status)


# --------------------------------------------------------------------------- cache

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def _age_s(text: str) -> float:
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        value = float(number)
    except ValueError:
        raise ConfigError(f"--older-than takes an age such as 30d, 12h or 90m, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"--older-than takes a positive age such as 30d, 12h or 90m, got {text!r}")
    return value * (unit or _UNITS["d"])


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _cache(args: argparse.Namespace) -> int:
    from vsync_models.report.compare import text_table
    from vsync_models.run.cache import ResponseCache

    path = args.cache_dir / "responses.sqlite"
    if args.older_than and not args.clear:
        raise ConfigError("--older-than goes with --clear MODEL (or --clear all)")
    if not path.is_file():
        return _print_lines([f"no response cache at {path}"], 0)
    cache = ResponseCache(path)
    try:
        lines = []
        if args.clear:
            older = None if not args.older_than else time.time() - _age_s(args.older_than)
            model = None if args.clear == "all" else args.clear
            n = cache.clear(model, older)
            what = "every model" if model is None else f"model {model!r}"
            age = f" stored more than {args.older_than} ago" if args.older_than else ""
            lines.append(f"deleted {n} answers of {what}{age}")
        usage = cache.usage()
    finally:
        cache.close()
    rows = [(u.model, str(u.answers), _size(u.bytes), _day(u.oldest), _day(u.newest)) for u in usage]
    lines += (
        text_table(("model", "answers", "size", "oldest", "newest"), rows) if rows else ["the cache is empty"]
    )
    lines.append(
        f"{path}: {_size(path.stat().st_size)} on disk; media cache {args.cache_dir / 'media'}: "
        f"{_size(_folder_bytes(args.cache_dir / 'media'))}"
    )
    return _print_lines(lines, 0)


def _day(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


# --------------------------------------------------------------------------- report


def _report(args: argparse.Namespace) -> int:
    from vsync_models.record import read_records
    from vsync_models.report.compare import RunInfo, load_run, stable_hash
    from vsync_models.report.results import write_results, write_text_atomic
    from vsync_models.report.runs import BASELINE_NAME, resolve_run
    from vsync_models.report.stats import summarize
    from vsync_models.report.tidy import tidy_path, write_tidy
    from vsync_models.types import MODALITY_ORDER

    run = resolve_run(args.run)
    sources = sorted(run.glob("*.records.jsonl")) if run.is_dir() else []
    if not sources:
        raise ConfigError(f"{args.run}: not a run folder with records files (*.records.jsonl)")
    per_file = {source: read_records([source]) for source in sources}
    records = [r for rs in per_file.values() for r in rs]
    if not records:
        raise ConfigError(f"{args.run}: its records files hold no record")
    out = args.out or run / "rebuilt"
    model = next((r.model for r in records if r.model), None) or run.parent.name
    lines = []
    for source in sources:
        name = source.name.removesuffix(".records.jsonl") + ".json"
        subset = sorted(per_file[source], key=lambda r: (r.level, MODALITY_ORDER.get(r.modality, 9)))
        modality = subset[0].modality if subset else "avt"
        write_results(out / name, model, modality, subset)
        write_tidy(tidy_path(out / name), model, subset)
        lines.append(f"results written to {out / name} and {tidy_path(out / name).name}")
    baseline = load_run(run / BASELINE_NAME) if (run / BASELINE_NAME).is_file() else None
    fingerprint = next((r.fingerprint for r in records if r.fingerprint), {})
    info = RunInfo(
        model=model,
        config_hash=(baseline.config_hash if baseline else None) or stable_hash(fingerprint),
        dataset=f"as recorded in {run}",
        dataset_hash=(baseline.dataset_hash if baseline else None) or "-",
    )
    page = out / f"{run.parent.name}.html"
    write_text_atomic(page, _html_page(info, summarize(records), records))
    lines.append(f"HTML written to {page} ({len(records)} records, no model called)")
    return _print_lines(lines, 0)


def _html_page(info, summary, records) -> str:  # type: ignore[no-untyped-def]
    # The renderer of the plugin's HTML report (pytest-free), for one page without pytest-html.
    from html import escape

    from vsync_models.report.html import STYLE, item_html, summary_html

    # no media: the rebuilt page has no clips beside it (the run's own report keeps its media folder)
    items = "".join(item_html(r) for r in records)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>V-SYNC {escape(info.model)}</title><style>{STYLE}</style></head><body>"
        f"{summary_html(info, summary, [('rebuilt', 'from the records files, without the model')])}"
        f"<h2>Items</h2>{items}</body></html>"
    )


# --------------------------------------------------------------------------- models


def _models(args: argparse.Namespace) -> int:
    from vsync_models.config import load_config
    from vsync_models.models.registry import describe_models

    config = load_config(args.config)
    lines = []
    for info in describe_models(config):
        lines.append(f"{info.name}: {info.needs}")
        if info.settings is not None:
            lines.append(f"    settings: {', '.join(sorted(info.settings.model_fields))}")
    lines.append(
        "settings go in models.<name> of the config, or --model-arg KEY=VALUE on the pytest command line"
    )
    return _print_lines(lines, 0)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "compare": _compare,
    "cache": _cache,
    "report": _report,
    "models": _models,
}


if __name__ == "__main__":
    raise SystemExit(main())
