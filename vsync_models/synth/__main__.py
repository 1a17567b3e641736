"""Command line: ``python -m vsync_models.synth generate --seed 0 --clips 8 --out data/level_1``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vsync_models.synth.level1 import generate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vsync_models.synth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write a level-1 who_said set (dataset, clips, manifest)")
    gen.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
    gen.add_argument("--clips", type=int, default=8, help="number of clips (default 8)")
    gen.add_argument("--items-per-clip", type=int, default=2, choices=(1, 2), help="questions per clip")
    gen.add_argument("--out", type=Path, default=Path("data/level_1"), help="output directory")
    args = parser.parse_args(argv)

    if args.clips < 1:
        parser.error("--clips must be at least 1")
    summary = generate(args.out, seed=args.seed, n_clips=args.clips, items_per_clip=args.items_per_clip)
    print(
        f"wrote {summary.clips} clips, {summary.items} items, {summary.total_bytes / 1e3:.0f} kB "
        f"to {summary.out_dir} in {summary.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
