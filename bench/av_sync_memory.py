"""Peak memory and time of ``av_sync`` looking at a long clip: streamed frame by frame, it stays flat.

    python bench/av_sync_memory.py [--fps 5] [--minutes 1 60]

Writes layout-sized (320×240) clips of the given lengths with PyAV (a picture that changes every
frame, no audio), then measures each in a fresh process: ``av_sync``'s video perception
(:func:`~vsync_models.models.av_measure.measure_video`, every frame) and, for comparison, holding
every decoded frame at once (what it did before streaming; only run where that fits in
``--whole-limit-mb``, else its size is given). Peak RSS is the process's ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsync_models.synth.layout import HEIGHT, WIDTH

_MEASURE = """
import resource, sys, time
from pathlib import Path
from vsync_models.models.av_measure import Sight, measure_video
t = time.perf_counter()
video = measure_video(Path(sys.argv[1]), Sight(max_decoded_pixels=10**12))
print(len(video.mouths), time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

_WHOLE = """
import resource, sys, time
import av, numpy as np
t = time.perf_counter()
with av.open(sys.argv[1]) as c:
    frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
print(len(frames), time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write_clip(path: Path, seconds: float, fps: int) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        stream.time_base = Fraction(1, fps)
        picture = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        for i in range(round(seconds * fps)):
            picture[:, : WIDTH // 2] = (i * 7) % 256
            picture[:, WIDTH // 2 :] = (i * 3) % 256
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def run(script: str, clip: Path) -> tuple[int, float, float]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(clip)], capture_output=True, text=True, check=True
    )
    frames, seconds, kib = done.stdout.split()
    return int(frames), float(seconds), int(kib) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=int, default=5, help="frame rate of the written clips (default 5)")
    parser.add_argument(
        "--minutes", type=float, nargs="+", default=[1, 60], help="clip lengths (default 1 60)"
    )
    parser.add_argument(
        "--whole-limit-mb",
        type=float,
        default=1024,
        help="hold whole clips only up to this size (default 1024)",
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            clip = Path(tmp) / f"clip_{minutes:g}min.mp4"
            write_clip(clip, minutes * 60, args.fps)
            frames, seconds, peak = run(_MEASURE, clip)
            whole_mb = frames * WIDTH * HEIGHT * 3 / 2**20
            if whole_mb <= args.whole_limit_mb:
                _, whole_s, whole_peak = run(_WHOLE, clip)
                before = f"{whole_peak:,.0f} MB ({whole_s:.1f} s)"
            else:
                before = f"not run: the frames alone are {whole_mb:,.0f} MB"
            rows.append(
                (
                    f"{minutes:g} min, {WIDTH}x{HEIGHT} {args.fps} fps",
                    f"{frames:,}",
                    f"{clip.stat().st_size / 1e6:.1f} MB",
                    f"{peak:,.0f} MB",
                    f"{seconds:.1f} s",
                    before,
                )
            )
    head = ("clip", "frames", "file", "av_sync peak RSS", "av_sync time", "every frame held at once")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n(python {sys.version.split()[0]}, PyAV {av.__version__}; {time.strftime('%Y-%m-%d')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
