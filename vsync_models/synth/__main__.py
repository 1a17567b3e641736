"""Command line: ``generate`` a level-1/2/3 set, run the ``oracles`` on one (or on a planned set), or
measure ``av_sync``'s ``ceilings`` at the frame rates real models get."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from vsync_models.synth.level1 import generate
from vsync_models.synth.oracles import cases, evaluate, format_table
from vsync_models.synth.speaker_items import SPEAKER_FILE


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vsync_models.synth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write a set (dataset.json, videos/, manifest.json)")
    gen.add_argument("--level", type=int, choices=(1, 2, 3, 4), default=1, help="which level (default 1)")
    gen.add_argument("--seed", type=int, default=0, help="same seed, same set (default 0)")
    gen.add_argument(
        "--clips", "--n", dest="clips", type=int, default=80, help="number of clips (default 80)"
    )
    gen.add_argument("--out", type=Path, default=Path("data/level_1"), help="output directory")
    spk = commands.add_parser(
        "speaker-items",
        help="write only level 1's event_when_speaking items (extra/) over an existing level-1 set",
    )
    spk.add_argument("--seed", type=int, default=0, help="the set's seed (default 0)")
    spk.add_argument("--clips", type=int, default=80, help="the set's clip count (default 80)")
    spk.add_argument("--out", type=Path, default=Path("data/level_1"), help="the level-1 set")
    strip = commands.add_parser("strip", help="save a labelled frame strip (PNG) of one clip of a set")
    strip.add_argument("dataset", type=Path, help="a generated set (with manifest.json)")
    strip.add_argument("clip", help="its video_path, e.g. clip_0001.mp4")
    strip.add_argument("--out", type=Path, required=True, help="PNG to write")
    orc = commands.add_parser("oracles", help="single-modality oracle accuracy per task (ground truth only)")
    orc.add_argument("dataset", nargs="?", type=Path, default=Path("data/level_1"), help="a generated set")
    orc.add_argument(
        "--plan", type=int, metavar="N", help="instead: plan N fresh clips in memory (no rendering)"
    )
    orc.add_argument("--seed", type=int, default=0, help="seed for --plan (default 0)")
    orc.add_argument(
        "--level", type=int, choices=(1, 2, 3, 4), default=None, help="level for --plan (default: 1)"
    )
    orc.add_argument("--all", action="store_true", help="also list every strategy's accuracy")
    ceil = commands.add_parser(
        "ceilings", help="av_sync's accuracy at 1, 2, 4 fps, every frame, 1 fps <= 8 frames (shipped levels)"
    )
    ceil.add_argument("--root", type=Path, default=Path("."), help="project root holding data/level_N")
    ceil.add_argument("--out", type=Path, default=None, help="ceilings file (default: the packaged one)")
    ceil.add_argument(
        "--level",
        type=int,
        action="append",
        choices=(1, 2, 3, 4),
        help="measure only this level (repeatable); the file keeps its rows of the other levels",
    )
    ceil.add_argument(
        "--fresh",
        type=int,
        default=0,
        metavar="N",
        help="also render N fresh clips per level and print theirs",
    )
    ceil.add_argument("--fresh-seed", type=int, default=1, help="seed of the fresh clips (default 1)")
    args = parser.parse_args(argv)

    if args.command == "ceilings":
        from vsync_models.config import Config
        from vsync_models.data.levels import load_levels, scoring_settings
        from vsync_models.synth import ceilings

        config = Config()
        root = args.root.resolve()
        levels = load_levels(config, lambda p: root / p, "av_sync")
        if args.level:
            levels = tuple(lvl for lvl in levels if lvl.number in args.level)
        if not levels:
            parser.error(f"no data/level_N under {root}")
        scoring = scoring_settings(config)
        code = ceilings.main(levels, args.out or ceilings.DEFAULT_PATH, scoring, keep_others=bool(args.level))
        if args.fresh > 0:
            ceilings.fresh(config, args.fresh, args.fresh_seed, scoring)
        return code

    if args.command == "generate":
        if args.clips < 1:
            parser.error("--clips must be at least 1")
        if args.level == 1:
            summary = generate(args.out, seed=args.seed, n_clips=args.clips)
        elif args.level == 4:
            from vsync_models.synth.paused import generate_paused

            summary = generate_paused(args.out, seed=args.seed, n_clips=args.clips)
        else:
            from vsync_models.synth.timed import generate_timed

            summary = generate_timed(args.out, args.level, seed=args.seed, n_clips=args.clips)
        print(
            f"wrote {summary.clips} clips, {summary.items} items, {summary.total_bytes / 1e6:.2f} MB "
            f"to {summary.out_dir} in {summary.seconds:.1f} s"
        )
        return 0

    if args.command == "speaker-items":
        from vsync_models.synth.level1 import write_speaker_items

        try:
            summary = write_speaker_items(args.out, seed=args.seed, n_clips=args.clips)
        except (OSError, ValueError) as exc:
            parser.error(str(exc))
        print(
            f"wrote {summary.items} items ({summary.total_bytes / 1e3:.1f} kB) to {args.out / SPEAKER_FILE}"
        )
        return 0

    if args.command == "strip":
        from vsync_models.synth.strip import frame_strip, interesting_frames

        manifest = json.loads((args.dataset / "manifest.json").read_text(encoding="utf-8"))
        (clip,) = [c for c in manifest["clips"] if c["video_path"] == args.clip]
        frame_strip(args.dataset / "videos" / args.clip, interesting_frames(clip)).save(args.out)
        print(f"wrote {args.out}")
        return 0

    level = args.level
    if args.plan is None:
        manifest = json.loads((args.dataset / "manifest.json").read_text(encoding="utf-8"))
        level = manifest.get("level", 1)
        from vsync_models.data.dataset import companion_files

        main_file = args.dataset / "dataset.json"
        items = [
            item
            for path in (main_file, *companion_files(main_file))
            for item in json.loads(path.read_text(encoding="utf-8"))
        ]
        clips = manifest["clips"]
    if level == 4:
        from vsync_models.synth.paused import build_paused_items, paused_truth, plan_paused
        from vsync_models.synth.paused_oracles import evaluate_paused, paused_cases

        if args.plan is not None:
            paused = plan_paused(args.seed, args.plan)
            items, clips = build_paused_items(paused, args.seed), [paused_truth(p) for p in paused]
        results = evaluate_paused(paused_cases(items, clips))
        table = format_table(results)
    elif level in (2, 3):
        from vsync_models.synth.timed_oracles import evaluate_timed, format_timed, timed_cases

        if args.plan is not None:
            from vsync_models.synth.timed import build_timed_items, timed_truth
            from vsync_models.synth.timed_plan import plan_timed

            plans = plan_timed(args.seed, args.plan, level)
            items, clips = build_timed_items(plans, args.seed), [timed_truth(p) for p in plans]
        results = evaluate_timed(timed_cases(items, clips))
        table = format_timed(results)
    else:
        if args.plan is not None:
            from vsync_models.synth.items import build_items
            from vsync_models.synth.plan import plan_clips
            from vsync_models.synth.speaker_items import build_speaker_items
            from vsync_models.synth.truth import clip_truth

            plans = plan_clips(args.seed, args.plan)
            items = build_items(plans, args.seed) + build_speaker_items(plans, args.seed)
            clips = [clip_truth(p) for p in plans]
        results = evaluate(cases(items, clips))
        table = format_table(results)
    print(table)
    if args.all:
        for r in results:
            for name, acc in sorted(r.strategies.items(), key=lambda kv: -kv[1]):
                print(f"{r.task:16} {r.modality:6} {100 * acc:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
