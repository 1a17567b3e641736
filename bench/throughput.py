"""How close a benchmark run gets to what the model server could deliver, and what the harness costs.

    python bench/throughput.py [--latency 0.2] [--jitter 0.05] [--server-concurrency 32]

Starts stand-in OpenAI-compatible servers (vsync_models.standin: fixed jittered latency,
a concurrency limit) on 127.0.0.1 and runs the level-1 suite (all three modalities, the OpenAI
client, so frames are sampled for avt and vt) through pytest against them, each configuration in a
fresh response cache. Prints one table, every figure from the same run:

* items/s with ``-n 1`` / ``-n 4``, without (``--concurrency 1``) and with ``--concurrency 32``,
  against the ideal ``min(in flight, server limit) / mean latency``. The rate is taken over the
  window in which the server had work (first request in, last answer out), i.e. without pytest's
  and xdist's start-up, which the "wall" column includes;
* a sequential original-style runner (one request at a time, frames decoded again for every
  request, no pytest) as the reference;
* two stand-in replicas against one (each limited to half the in-flight requests);
* ``--collect-only -q`` of 10,000 synthetic items (30,000 test ids) against plain pytest collecting
  30,000 trivially parametrized tests;
* media preparation: preparations, reuses and hit rate in a cold-cache run (each clip once?);
* harness overhead per item against a zero-latency server, and peak RSS of the pytest processes.

Runs without ``--concurrency`` use a subset of the items (their rate does not depend on the count).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vsync_models.data.dataset import load_level1  # noqa: E402
from vsync_models.data.media import MediaPreparer  # noqa: E402
from vsync_models.data.prompts import PromptSettings, build_request  # noqa: E402
from vsync_models.models.openai_compat import OpenAICompatModel  # noqa: E402
from vsync_models.standin import StandIn  # noqa: E402
from vsync_models.types import Modality  # noqa: E402

MEDIA_LINE = re.compile(r"vsync media: (\d+) prepared, (\d+) reused")
MODALITIES = (Modality.AVT, Modality.VT, Modality.AT)


@dataclass
class Run:
    label: str
    tests: int
    window_s: float
    wall_s: float
    ideal: float
    stdout: str
    peak: int = 0

    @property
    def rate(self) -> float:
        return self.tests / self.window_s if self.window_s > 0 else float("nan")


class Bench:
    def __init__(self, work: Path, dataset: Path, args: argparse.Namespace) -> None:
        self.work = work
        self.dataset = dataset
        self.args = args
        self.count = 0

    def pytest(
        self,
        label: str,
        servers: list[StandIn],
        extra: list[str],
        dataset: Path | None = None,
        in_flight: int = 1,
        media_from: Path | None = None,
    ) -> Run:
        """One pytest run in a fresh cache (optionally seeded with a warm media cache)."""
        self.count += 1
        run_dir = self.work / f"run{self.count}"
        cache = run_dir / "cache"
        cache.mkdir(parents=True)
        if media_from is not None:
            shutil.copytree(media_from, cache / "media")
        config = run_dir / "config.yaml"
        urls = [s.url for s in servers]
        config.write_text(
            json.dumps(
                {
                    "runtime": {"max_retries": 0},
                    "models": {"standin": {"server_url": urls if len(urls) > 1 else urls[0]}},
                    "benchmark": {"level1": {"output_dir": str(run_dir / "reports")}},
                }
            ),
            encoding="utf-8",
        )
        env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": "sk-bench"}
        env.pop("OPENAI_BASE_URL", None)
        env.pop("OPENAI_API_BASE", None)
        for server in servers:
            server.reset_counts()
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "tests/benchmark/test_level1.py",
            "-q",
            "--tb=no",
            "-p",
            "no:cacheprovider",
        ]
        cmd += ["--model", "openai:standin", "--config", str(config), "--cache-dir", str(cache)]
        cmd += [
            "--dataset",
            str(dataset or self.dataset),
            "--video-dir",
            str(REPO / "data" / "level_1" / "videos"),
        ]
        start = time.monotonic()
        done = subprocess.run(cmd + extra, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        wall = time.monotonic() - start
        requests = sum(s.requests for s in servers)
        firsts = [s.first_arrival for s in servers if s.first_arrival is not None]
        lasts = [s.last_answer for s in servers if s.last_answer is not None]
        window = (max(lasts) - min(firsts)) if firsts and lasts else float("nan")
        if done.returncode not in (0, 1) or requests == 0:
            raise SystemExit(
                f"{label}: pytest exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        limit = self.args.server_concurrency * len(servers)
        latency = max(self.args.latency, 1e-9)
        peak = sum(s.peak_in_flight for s in servers)
        return Run(label, requests, window, wall, min(in_flight, limit) / latency, done.stdout, peak)


def subset(dataset: Path, n: int, out: Path) -> Path:
    items = json.loads((dataset / "dataset.json").read_text(encoding="utf-8"))[:n]
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset.json").write_text(json.dumps(items), encoding="utf-8")
    return out / "dataset.json"


def reference_runner(server: StandIn, dataset: Path, n_items: int, work: Path) -> tuple[int, float]:
    """The original's loop: one item after another, frames decoded again for every request."""
    data = load_level1(dataset, REPO / "data" / "level_1" / "videos")
    model = OpenAICompatModel("standin", "standin", server.url, "sk-bench", max_retries=0)
    settings = PromptSettings()
    done = 0
    start = time.monotonic()
    for item in data.items[:n_items]:
        for modality in MODALITIES:
            fresh = MediaPreparer(work / f"ref{done}")  # no cache: this request decodes the clip again
            model.generate(build_request(item, modality, settings, fresh))
            done += 1
    return done, time.monotonic() - start


def collection(work: Path, n_items: int) -> tuple[float, float, int, int]:
    """Seconds to --collect-only -q n_items synthetic items (x3 modalities) and plain pytest's 3n."""
    data = work / "synthetic"
    videos = data / "videos"
    videos.mkdir(parents=True)
    clips = 500
    for c in range(clips):
        (videos / f"clip{c}.mp4").write_bytes(b"not decoded at collection " + str(c).encode())
    items = [
        {
            "id": f"s{i:05d}",
            "video_path": f"clip{i % clips}.mp4",
            "question": f"Which character said sentence {i}?",
            "options": ["A. red", "B. blue", "C. green", "D. grey"],
            "correct_answer": "ABCD"[i % 4],
            "asr_content": f"sentence {i}",
            "task": "who_said",
        }
        for i in range(n_items)
    ]
    (data / "dataset.json").write_text(json.dumps(items), encoding="utf-8")
    plain = work / "plain"
    plain.mkdir()
    (plain / "test_plain.py").write_text(
        f"import pytest\n\n\n@pytest.mark.parametrize('i', range({3 * n_items}))\ndef test_x(i):\n    pass\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ours_cmd = [
        sys.executable,
        "-m",
        "pytest",
        "tests/benchmark/test_level1.py",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    ours_cmd += ["--model", "random", "--dataset", str(data)]
    plain_cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(plain)]

    def timed(cmd: list[str], cwd: Path) -> tuple[float, int]:
        start = time.monotonic()
        out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - start
        ids = sum("::test_" in line for line in out.stdout.splitlines())
        return seconds, ids

    ours, ours_ids = timed(ours_cmd, REPO)
    base, base_ids = timed(plain_cmd, plain)
    return ours, base, ours_ids, base_ids


def media_counts(stdout: str) -> tuple[int, int]:
    m = MEDIA_LINE.search(stdout)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in latency, seconds (mean)")
    parser.add_argument("--jitter", type=float, default=0.05, help="uniform jitter, +- seconds")
    parser.add_argument("--server-concurrency", type=int, default=32, help="stand-in's in-flight limit")
    parser.add_argument("--slow-items", type=int, default=20, help="items for the runs without pipelining")
    parser.add_argument("--collect-items", type=int, default=10_000)
    args = parser.parse_args()

    dataset = REPO / "data" / "level_1"
    n_clips = len({i.video_path for i in load_level1(dataset).items})
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench = Bench(work, dataset, args)
        small = subset(dataset, args.slow_items, work / "small")
        lat, jit, limit = args.latency, args.jitter, args.server_concurrency
        rows: list[Run] = []
        with StandIn(latency_s=lat, jitter_s=jit, max_concurrency=limit, seed=1) as server:
            cold = bench.pytest(
                "-n 4 --concurrency 32, cold media cache",
                [server],
                ["-n", "4", "--concurrency", "32"],
                in_flight=32,
            )
            warm_media = next(work.glob("run*/cache/media"))
            rows.append(
                bench.pytest("-n 1", [server], ["-n", "1", "--concurrency", "1"], small, 1, warm_media)
            )
            rows.append(
                bench.pytest("-n 4", [server], ["-n", "4", "--concurrency", "1"], small, 4, warm_media)
            )
            rows.append(
                bench.pytest(
                    "-n 1 --concurrency 32",
                    [server],
                    ["-n", "1", "--concurrency", "32"],
                    None,
                    32,
                    warm_media,
                )
            )
            rows.append(
                bench.pytest(
                    "-n 4 --concurrency 32",
                    [server],
                    ["-n", "4", "--concurrency", "32"],
                    None,
                    32,
                    warm_media,
                )
            )
            rows.append(
                bench.pytest(
                    "no -n, --concurrency 32", [server], ["--concurrency", "32"], None, 32, warm_media
                )
            )
            rows.append(cold)
            ref_n, ref_s = reference_runner(server, dataset, args.slow_items, work)
        half = max(1, limit // 2)
        with (
            StandIn(latency_s=lat, jitter_s=jit, max_concurrency=half, seed=2) as one,
            StandIn(latency_s=lat, jitter_s=jit, max_concurrency=half, seed=3) as two,
        ):
            bench.args.server_concurrency = half
            single = bench.pytest(
                f"1 replica (limit {half})", [one], ["--concurrency", "32"], None, 32, warm_media
            )
            double = bench.pytest(
                f"2 replicas (limit {half} each)", [one, two], ["--concurrency", "32"], None, 32, warm_media
            )
            bench.args.server_concurrency = limit
        with StandIn(latency_s=0.0, max_concurrency=None) as zero:
            bench.args.latency = 0.0
            seq0 = bench.pytest(
                "zero latency, --concurrency 1", [zero], ["--concurrency", "1"], None, 1, warm_media
            )
            pipe0 = bench.pytest(
                "zero latency, --concurrency 32", [zero], ["--concurrency", "32"], None, 32, warm_media
            )
        ours_c, plain_c, ours_ids, plain_ids = collection(work, args.collect_items)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print(
        f"stand-in: latency {lat * 1000:.0f} ms +- {jit * 1000:.0f} ms, limit {limit} in flight; level-1 set, 3 modalities"
    )
    print(
        f"{'configuration':<40} {'tests':>5} {'peak':>4} {'items/s':>8} {'ideal':>7} {'ratio':>6} {'wall s':>7}"
    )
    for r in rows:
        ratio = 100 * r.rate / r.ideal
        print(
            f"{r.label:<40} {r.tests:>5} {r.peak:>4} {r.rate:>8.1f} {r.ideal:>7.1f} {ratio:>5.0f}% {r.wall_s:>7.1f}"
        )
    ref_rate = ref_n / ref_s
    label = "reference: sequential, decode per request"
    print(
        f"{label:<40} {ref_n:>5} {1:>4} {ref_rate:>8.1f} {1 / lat:>7.1f} {100 * ref_rate * lat:>5.0f}% {ref_s:>7.1f}"
    )
    best = rows[2].rate
    print(f"speed-up of -n 1 --concurrency 32 over the reference: {best / ref_rate:.1f}x")
    print(
        f"replicas: 1 -> {single.rate:.1f} items/s, 2 -> {double.rate:.1f} items/s: "
        f"{double.rate / single.rate:.2f}x (ideal 2.00x)"
    )
    prepared, reused = media_counts(cold.stdout)
    print(
        f"media, cold cache, -n 4: {prepared} prepared for {n_clips} clips, {reused} reused "
        f"({100 * reused / max(1, prepared + reused):.0f}% hits); each clip decoded once: {prepared == n_clips}"
    )
    print(
        f"collection: {ours_ids} ids ({args.collect_items} items x 3) {ours_c:.1f} s; plain pytest {plain_ids} ids "
        f"{plain_c:.1f} s; ratio {ours_c / plain_c:.2f} (target <= 2)"
    )
    print(
        f"harness per item, zero-latency server: {1000 * seq0.window_s / seq0.tests:.2f} ms sequential, "
        f"{1000 * pipe0.window_s / pipe0.tests:.2f} ms with --concurrency 32 ({pipe0.tests} tests, no -n)"
    )
    print(f"peak RSS of a pytest process: {peak_rss_mb:.0f} MB")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
