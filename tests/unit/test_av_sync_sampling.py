"""``av_sync`` looks at a clip as a model sampling at ``models.av_sync.fps`` / ``max_frames`` would,
streams its frames (memory does not grow with the clip's length), and refuses a clip over
``models.av_sync.max_decoded_pixels`` as an item error naming the limit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vsync_models.config import Config
from vsync_models.data.dataset import load_level1
from vsync_models.data.media import MediaPreparer, frame_times, sampled_positions
from vsync_models.data.prompts import PromptSettings
from vsync_models.errors import ConfigError, MediaError
from vsync_models.models.av_measure import Sight, measure_video
from vsync_models.models.av_sync import AVSyncModel
from vsync_models.models.registry import build_model
from vsync_models.run.evaluate import Evaluator
from vsync_models.synth.layout import HEIGHT, WIDTH
from vsync_models.synth.measure import decode, eye_changes, mouth_darkness, prop_change_frames
from vsync_models.types import Modality, Outcome, Sampling

ROOT = Path(__file__).resolve().parents[2]
LEVEL1 = ROOT / "data" / "level_1"
CLIP = LEVEL1 / "videos" / "clip_0001.mp4"

pytestmark = pytest.mark.skipif(not CLIP.is_file(), reason="the shipped level-1 set is not here")


def test_positions_at_a_rate_and_under_a_cap() -> None:
    times = [i / 25 for i in range(274)]  # a shipped clip: 10.96 s at 25 fps
    assert sampled_positions(times, Sampling()) == list(range(274))
    assert sampled_positions(times, Sampling(fps=1)) == list(range(0, 274, 25))
    assert sampled_positions(times, Sampling(fps=4)) == [int(k * 6.25) for k in range(44)]
    capped = sampled_positions(times, Sampling(fps=1, max_frames=8))
    assert len(capped) == 8 and capped[0] == 0 and capped[-1] == 273
    assert sampled_positions(times, Sampling(max_frames=3)) == [0, 136, 273]


def test_positions_are_the_frames_the_openai_path_sends(tmp_path: Path) -> None:
    times = frame_times(CLIP)
    sent = MediaPreparer(tmp_path).frames(CLIP, 1.0, 8)
    assert [f.t for f in sent] == [times[i] for i in sampled_positions(times, Sampling(fps=1, max_frames=8))]


def test_every_frame_measures_what_the_whole_clip_in_memory_measures() -> None:
    frames, _, _ = decode(CLIP)
    video = measure_video(CLIP, Sight())
    assert video.seen is None
    np.testing.assert_array_equal(video.mouths, mouth_darkness(frames))
    np.testing.assert_array_equal(video.eyes, eye_changes(frames))
    assert video.events == prop_change_frames(frames)


def test_sampling_changes_what_is_seen() -> None:
    every = measure_video(CLIP, Sight())
    one = measure_video(CLIP, Sight(Sampling(fps=1)))
    n = len(every.mouths)
    assert one.seen is not None and len(one.mouths) == n
    assert np.flatnonzero(one.seen).tolist() == list(range(0, n, 25))
    # a seen frame is measured exactly; an unseen one holds the last seen frame's measurement
    for i in range(n):
        np.testing.assert_array_equal(one.mouths[i], every.mouths[i - i % 25])
    assert not np.array_equal(one.mouths, every.mouths)
    # a prop change is seen at the first kept frame that shows it
    for prop, frame in every.events.items():
        assert one.events[prop] == (None if frame is None else -(-frame // 25) * 25), prop
    assert one.names == every.names


def test_sampling_reaches_the_model_and_its_cache_key() -> None:
    config = Config(models={"av_sync": {"fps": 2, "max_frames": 16, "max_decoded_pixels": "1e6"}})
    model = build_model("av_sync", config)
    assert isinstance(model, AVSyncModel)
    assert model.sight == Sight(Sampling(fps=2.0, max_frames=16), 1_000_000)
    assert model.fingerprint()["sampling"] == {"fps": 2.0, "max_frames": 16}
    assert "sampling" not in AVSyncModel().fingerprint()  # every frame keeps the keys answers had
    with pytest.raises(ConfigError, match=r"models\.av_sync"):
        build_model("av_sync", Config(models={"av_sync": {"fps": 0}}))


def test_a_clip_over_the_decoded_size_limit_is_an_item_error_naming_it(tmp_path: Path) -> None:
    data = load_level1(LEVEL1)
    item = next(it for it in data if it.video_path == CLIP.name)
    limit = WIDTH * HEIGHT * 100  # the clip has 274 frames
    evaluator = Evaluator(
        AVSyncModel(max_decoded_pixels=limit), {1: PromptSettings()}, MediaPreparer(tmp_path)
    )
    result = evaluator.evaluate(item, Modality.AVT)
    assert result.outcome is Outcome.ERROR
    assert "models.av_sync.max_decoded_pixels" in (result.response.error or "")
    assert f"{limit:,}" in (result.response.error or "")
    with pytest.raises(MediaError, match="max_decoded_pixels"):
        measure_video(CLIP, Sight(max_decoded_pixels=limit))
    assert measure_video(CLIP, Sight(max_decoded_pixels=WIDTH * HEIGHT * 274)).names


def _long_clip(path: Path, n_frames: int) -> None:
    """A layout-sized clip, a grey level changing each frame (so every frame is a real picture)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        stream.time_base = Fraction(1, 25)
        picture = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        for i in range(n_frames):
            picture[:] = (i * 7) % 256
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def test_peak_memory_does_not_grow_with_the_clip(tmp_path: Path) -> None:
    n = 2500  # 100 s: 576 MB of RGB when held whole, as the decoder before streaming did
    clip = tmp_path / "long.mp4"
    _long_clip(clip, n)
    script = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from vsync_models.models.av_measure import Sight, measure_video
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        video = measure_video(Path({str(clip)!r}), Sight())
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(len(video.mouths), (after - before) // 1024)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    frames, grown_mb = map(int, done.stdout.split())
    assert frames == n
    whole_mb = n * WIDTH * HEIGHT * 3 // 2**20
    assert grown_mb < 120, f"peak RSS grew by {grown_mb} MB measuring {n} frames ({whole_mb} MB decoded)"
