"""Time answer extraction on adversarial reasoning tags: linear (ours) against the regex reading.

    python bench/extraction.py [--sizes 8000,16000,...] [--reference-up-to 16000]

Prints one row per size: the length of the text, the time of ``extract_choice`` and
``extract_interval`` on ``"<think>" * N`` (an unclosed tag repeated N times), and the time the
regex reading of the same rules (``<think>.*?</think>``, quadratic) takes to strip it, measured
only up to ``--reference-up-to`` because it grows with the square of N.
"""

from __future__ import annotations

import argparse
import re
import time

from vsync_models.scoring.answers import extract_choice
from vsync_models.scoring.time_answers import extract_interval

_BLOCK = re.compile(r"<(think|thinking)\s*>.*?</\1\s*>", re.I | re.S)


def _seconds(fn, *args) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="8000,16000,32000,128000,1000000")
    parser.add_argument("--reference-up-to", type=int, default=16000)
    args = parser.parse_args()
    print(f"{'N':>9} {'text':>9} {'extract_choice':>15} {'extract_interval':>17} {'regex strip':>12}")
    for n in (int(s) for s in args.sizes.split(",")):
        text = "<think>" * n
        choice = _seconds(extract_choice, text, ["A. x", "B. y"])
        interval = _seconds(extract_interval, text)
        reference = f"{_seconds(_BLOCK.sub, ' ', text):11.2f}s" if n <= args.reference_up_to else "-"
        print(f"{n:>9} {len(text) / 1e6:>7.2f}MB {choice:>14.3f}s {interval:>16.3f}s {reference:>12}")


if __name__ == "__main__":
    main()
