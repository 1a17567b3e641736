"""How fast V-SYNC-Synth generates and decodes clips, and how big they are.

    python bench/synth.py [--clips 8] [--seed 0]

Absolute seconds depend on the machine and on what else runs, so each figure is also given as a
ratio against something measured in the same run: generation and decoding against the media's own
duration (real-time factor), decoding against generation, oracles against planning; the
embedded av_sync baseline is timed per item through the real harness (cache off).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vsync_models.data.dataset import load_level1
from vsync_models.data.media import MediaPreparer
from vsync_models.data.prompts import PromptSettings
from vsync_models.models.av_sync import AVSyncModel
from vsync_models.run.evaluate import Evaluator
from vsync_models.synth.items import build_items
from vsync_models.synth.level1 import render_clip
from vsync_models.synth.measure import decode
from vsync_models.synth.oracles import cases, evaluate
from vsync_models.synth.plan import plan_clips
from vsync_models.synth.speech import SENTENCES, FittedVoice
from vsync_models.synth.truth import clip_truth
from vsync_models.types import Modality, Outcome


def _time_av_sync(video_dir: Path, raw_items: list[dict]) -> list[tuple[str, str, str]]:
    """Seconds per item of the embedded baseline through the real harness, per modality.

    No response cache; avt runs first on fresh clips, so its figure includes decoding every
    clip once. vt and at reuse av_sync's per-process memo where the same file comes back (the
    audio track), and vt stops at the refused audio without decoding anything.
    """
    (video_dir / "dataset.json").write_text(json.dumps(raw_items), encoding="utf-8")
    dataset = load_level1(video_dir / "dataset.json", video_dir=video_dir)
    rows = []
    for modality in (Modality.AVT, Modality.VT, Modality.AT):
        evaluator = Evaluator(AVSyncModel(), {1: PromptSettings()}, MediaPreparer(video_dir / "prep"))
        t = time.perf_counter()
        correct = sum(evaluator.evaluate(it, modality).outcome is Outcome.CORRECT for it in dataset)
        per_item = (time.perf_counter() - t) / len(dataset)
        rows.append(
            (
                f"av_sync, {modality.value}",
                f"{per_item:.3f} s/item",
                f"{correct}/{len(dataset)} correct",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8, help="clips to render and decode (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--planned", type=int, default=1000, help="clips to plan for the oracle timing")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    voice = FittedVoice()
    for text in SENTENCES:
        voice(text)
    speech_s = time.perf_counter() - started

    plans = plan_clips(args.seed, args.clips)
    media_s = sum(p.duration_s for p in plans)
    gen, dec, sizes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for plan in plans:
            path = Path(tmp) / plan.video_path
            t = time.perf_counter()
            render_clip(plan, voice, path)
            gen.append(time.perf_counter() - t)
            sizes.append(path.stat().st_size)
            t = time.perf_counter()
            decode(path)
            dec.append(time.perf_counter() - t)
        baseline = _time_av_sync(Path(tmp), build_items(plans, args.seed))

    t = time.perf_counter()
    planned = plan_clips(args.seed + 1, args.planned)
    items, truths = build_items(planned, args.seed + 1), [clip_truth(p) for p in planned]
    plan_s = time.perf_counter() - t
    t = time.perf_counter()
    evaluate(cases(items, truths))
    oracle_s = time.perf_counter() - t

    per_clip_gen, per_clip_dec = statistics.fmean(gen), statistics.fmean(dec)
    clip_len = media_s / len(plans)
    rows = [
        ("speech for all sentences (once)", f"{speech_s:.2f} s", f"{len(SENTENCES)} sentences"),
        (
            "generate (draw + encode)",
            f"{1 / per_clip_gen:.2f} clips/s",
            f"{clip_len / per_clip_gen:.1f}x real time",
        ),
        (
            "decode (all frames + audio)",
            f"{1 / per_clip_dec:.2f} clips/s",
            f"{per_clip_dec / per_clip_gen:.2f}x generate time",
        ),
        (
            "size",
            f"{statistics.fmean(sizes) / 1e6:.3f} MB/clip",
            f"{8 * statistics.fmean(sizes) / clip_len / 1e3:.0f} kbit/s",
        ),
        (
            "plan + truth (no media)",
            f"{args.planned / plan_s:.0f} clips/s",
            f"{per_clip_gen * args.planned / plan_s:.0f}x faster than generating",
        ),
        (
            "oracles, all tasks x modalities",
            f"{len(items) / oracle_s:.0f} items/s",
            f"{oracle_s / plan_s:.1f}x planning time",
        ),
        *baseline,
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"V-SYNC-Synth bench: {len(plans)} clips of {clip_len:.1f} s on average (seed {args.seed})")
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
