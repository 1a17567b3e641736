"""What faults cost a benchmark run: a level-1 suite against a stand-in server that fails on purpose.

    python bench/faults.py [--modality at] [--workers 2] [--rate 500=0.2 --rate reset=0.05] [--kill-at 0.5]

Three runs of the shipped level-1 set through the real harness (``pytest --model openai:standin``),
each against the fault-injecting stand-in (:mod:`vsync_models.standin`) on 127.0.0.1:

1. clean: no faults, its own cache: the reference accuracy;
2. faulty: the given fault rates, and the server SIGKILLed once part-way (``--kill-at`` of the
   expected requests); items in flight and after the kill become errors;
3. resume: the same command again against a restarted (still faulty) server.

It prints: items, answers completed by run 2, answers lost (answered by the server in run 2 but
asked again in run 3: must be 0), what run 3 asked for, retries and errors by kind, and the final
accuracy against the clean run (must be equal). The stand-in answers from the prompt text alone,
so faults cannot change an answer; only lost or mis-scored items could change the score.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from vsync_models.record import Record
from vsync_models.report.reliability import format_reliability, reliability
from vsync_models.standin import spawn
from vsync_models.types import Outcome

REPO = Path(__file__).resolve().parents[1]


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def run_suite(work: Path, name: str, url: str, args: argparse.Namespace) -> tuple[dict, float]:
    """One harness run; returns its results document and its wall time."""
    out = work / f"reports-{name}"
    config = work / f"config-{name}.yaml"
    config.write_text(
        json.dumps(
            {
                "runtime": {"max_retries": args.max_retries, "retry_base_sec": 0.01, "retry_cap_sec": 0.1},
                "models": {"standin": {"timeout_s": 5}},
                "benchmark": {"level1": {"output_dir": str(out)}},
            }
        ),
        encoding="utf-8",
    )
    cache = work / ("cache-clean" if name == "clean" else "cache")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "--tb=no",
        "-p",
        "no:cacheprovider",
        "--model",
        "openai:standin",
    ]
    # option=value: pytest's first pass would take a lone path argument for a test path (and root)
    cmd += [f"--modality={args.modality}", f"--config={config}", f"--cache-dir={cache}"]
    if args.workers > 1:
        cmd += ["-n", str(args.workers)]
    env = {**os.environ, "OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-bench-faults", "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    suffix = "" if args.modality == "avt" else f"_{args.modality}"
    results = out / f"results_openai_standin_level1{suffix}.json"
    if not results.is_file():
        sys.exit(f"the {name} run wrote no results:\n{(done.stdout + done.stderr)[-3000:]}")
    return json.loads(results.read_text("utf-8")), seconds


def asked(server, kind: str = "ok") -> Counter[str]:
    """Prompt hashes the stand-in answered (``ok``) or saw at all (``any``)."""
    return Counter(e["sha"] for e in server.entries() if kind == "any" or e["fault"] == "ok")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modality", default="at", help="at needs no decoding, so the server's faults dominate")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rate", action="append", default=None, metavar="FAULT=P")
    p.add_argument("--kill-at", type=float, default=0.5, help="fraction of the expected requests")
    p.add_argument("--max-retries", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rates = args.rate or ["500=0.2", "reset=0.05"]
    faults = [arg for rate in rates for arg in ("--rate", rate)] + ["--seed", str(args.seed)]
    with tempfile.TemporaryDirectory(prefix="vsync-faults-") as tmp:
        work = Path(tmp)
        port = free_port()  # one URL for every server: it is part of the cache key, as in real life

        clean_server = spawn(work, "--port", port, name="clean")
        clean, clean_s = run_suite(work, "clean", clean_server.url, args)
        clean_server.stop()
        n = len(clean["results"])
        fault_share = sum(float(r.split("=")[1]) for r in rates)
        kill_after = int(args.kill_at * n / max(1.0 - fault_share, 0.05))

        faulty_server = spawn(work, "--port", port, *faults, "--kill-after", str(kill_after), name="faulty")
        faulty, faulty_s = run_suite(work, "faulty", faulty_server.url, args)
        faulty_server.stop()
        answered_before = asked(faulty_server)

        resume_server = spawn(work, "--port", port, *faults, "--seed", str(args.seed + 1), name="resume")
        final, resume_s = run_suite(work, "resume", resume_server.url, args)
        resume_server.stop()
        asked_again, requests_again = asked(resume_server), sum(asked(resume_server, "any").values())

    runs = {
        name: [Record.from_json(r) for r in doc["results"]]
        for name, doc in (("clean", clean), ("faulty", faulty), ("final", final))
    }
    completed = sum(r.outcome is not Outcome.ERROR for r in runs["faulty"])
    lost = sum((answered_before & asked_again).values())
    costs = [reliability(runs[name]) for name in ("faulty", "final")]
    same = {r.id: r.prediction for r in runs["final"]} == {r.id: r.prediction for r in runs["clean"]}
    rows = [
        ("items", f"{n} ({args.modality}, {args.workers} workers)"),
        ("faults injected", f"{', '.join(rates)}; server SIGKILLed at request {kill_after + 1}"),
        ("run 2 (faulty, killed)", f"{completed} answered, {n - completed} errors, {faulty_s:.1f} s"),
        (
            "  " + format_reliability(costs[0]).split(": ", 1)[0],
            format_reliability(costs[0]).split(": ", 1)[1],
        ),
        (
            "run 3 (resume)",
            f"asked the server {requests_again} times for {n - completed} unfinished items, {resume_s:.1f} s",
        ),
        (
            "  " + format_reliability(costs[1]).split(": ", 1)[0],
            format_reliability(costs[1]).split(": ", 1)[1],
        ),
        ("answers lost", str(lost)),
        (
            "final accuracy",
            f"{final['accuracy']:.2f}% ({final['correct']}/{final['total']}, errors {final['errors']})",
        ),
        (
            "clean run accuracy",
            f"{clean['accuracy']:.2f}% ({clean['correct']}/{clean['total']}), {clean_s:.1f} s",
        ),
        ("same answers as clean", "yes" if same and final["accuracy"] == clean["accuracy"] else "NO"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0 if lost == 0 and same and final["accuracy"] == clean["accuracy"] else 1


if __name__ == "__main__":
    sys.exit(main())
