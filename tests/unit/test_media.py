"""MediaView / MediaPreparer: each modality gets exactly its streams, and broken clips fail loudly."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import pickle
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.support import write_mp4
from vsync_models.data import media
from vsync_models.data.media import MediaPreparer, MediaView, content_hash
from vsync_models.errors import MediaError, ModalityViolation
from vsync_models.types import Frame, Modality

FPS = 25
SECONDS = 2.0
N_FRAMES = int(SECONDS * FPS)
SAMPLE_RATE = 22050
GREY_STEP = 5  # frame i is a flat grey of level i * GREY_STEP, so a sampled frame shows which it is


def make_clip(path: Path, *, video: bool = True, audio: bool = True, seconds: float = SECONDS) -> Path:
    """A tiny mp4: 64x48 flat grey frames getting brighter, and a 440 Hz tone."""
    n = round(seconds * FPS) if video else 0
    frames = [np.full((48, 64, 3), min(255, i * GREY_STEP), np.uint8) for i in range(n)]
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16) if audio else None
    return write_mp4(path, frames, FPS, tone, SAMPLE_RATE)


def streams(path: Path) -> dict[str, int]:
    """Stream type → number of decoded frames (video) or samples (audio)."""
    counts: dict[str, int] = {}
    with av.open(str(path)) as c:
        kinds = [s.type for s in c.streams]
        for kind in kinds:
            counts[kind] = 0
        if "video" in counts:
            counts["video"] = sum(1 for _ in c.decode(video=0))
    if "audio" in counts:
        with av.open(str(path)) as c:
            counts["audio"] = sum(f.samples for f in c.decode(audio=0))
    return counts


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    valid = make_clip(d / "av.mp4")
    truncated = d / "truncated.mp4"
    truncated.write_bytes(valid.read_bytes()[: valid.stat().st_size // 2])
    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    text = d / "notes.mp4"
    text.write_text("this is not a video, only text that pretends to be one\n" * 20)
    return {
        "av": valid,
        "silent": make_clip(d / "silent.mp4", audio=False),
        "blind": make_clip(d / "blind.mp4", video=False),
        "truncated": truncated,
        "empty": empty,
        "text": text,
    }


@pytest.fixture
def preparer(tmp_path: Path) -> MediaPreparer:
    return MediaPreparer(tmp_path / "cache")


# --- content_hash -------------------------------------------------------------------------------


def test_content_hash_is_sha256_of_bytes(tmp_path: Path) -> None:
    f = tmp_path / "clip.bin"
    f.write_bytes(b"x" * 3_000_000)  # more than one read chunk
    assert content_hash(f) == hashlib.sha256(f.read_bytes()).hexdigest()


def test_content_hash_memo_follows_size_and_mtime(tmp_path: Path) -> None:
    f = tmp_path / "clip.bin"
    f.write_bytes(b"first version")
    first = content_hash(f)
    stamp = f.stat().st_mtime_ns

    f.write_bytes(b"other version")  # same size, new content
    os.utime(f, ns=(stamp + 10_000_000, stamp + 10_000_000))
    second = content_hash(f)
    assert second == hashlib.sha256(b"other version").hexdigest() != first

    # Same (path, size, mtime) as a hashed version: the memo answers without reading the file.
    f.write_bytes(b"third version")
    os.utime(f, ns=(stamp + 10_000_000, stamp + 10_000_000))
    assert content_hash(f) == second


def test_content_hash_of_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"nowhere\.mp4"):
        content_hash(tmp_path / "nowhere.mp4")


# --- derived files ------------------------------------------------------------------------------


def test_video_only_drops_audio_and_keeps_every_frame(
    clips: dict[str, Path], preparer: MediaPreparer
) -> None:
    out = preparer.video_only(clips["av"])
    assert out == preparer.cache_dir / content_hash(clips["av"]) / "video_only.mp4"
    assert streams(clips["av"]) == {
        "video": N_FRAMES,
        "audio": pytest.approx(SECONDS * SAMPLE_RATE, abs=2048),
    }
    assert streams(out) == {"video": N_FRAMES}


def test_audio_only_keeps_audio_and_drops_video(clips: dict[str, Path], preparer: MediaPreparer) -> None:
    out = preparer.audio_only(clips["av"])
    assert out.name == "audio_only.m4a"
    assert streams(out) == {"audio": streams(clips["av"])["audio"]}


def test_prepared_files_are_reused(clips: dict[str, Path], preparer: MediaPreparer) -> None:
    first = preparer.video_only(clips["av"])
    stamp = first.stat().st_mtime_ns
    again = MediaPreparer(preparer.cache_dir).video_only(clips["av"])
    assert again == first
    assert again.stat().st_mtime_ns == stamp
    assert [p.name for p in first.parent.iterdir()] == ["video_only.mp4"]  # no temp files left


def test_audio_only_of_clip_without_audio_is_media_error(
    clips: dict[str, Path], preparer: MediaPreparer
) -> None:
    with pytest.raises(MediaError, match=r"silent\.mp4.*no audio stream"):
        preparer.audio_only(clips["silent"])
    assert streams(preparer.video_only(clips["silent"])) == {"video": N_FRAMES}


def test_video_only_of_clip_without_video_is_media_error(
    clips: dict[str, Path], preparer: MediaPreparer
) -> None:
    with pytest.raises(MediaError, match=r"blind\.mp4.*no video stream"):
        preparer.video_only(clips["blind"])
    with pytest.raises(MediaError, match=r"blind\.mp4"):
        preparer.frames(clips["blind"], 1.0, 8)


@pytest.mark.parametrize("kind", ["truncated", "empty", "text"])
@pytest.mark.parametrize("call", ["video_only", "audio_only", "frames"])
def test_corrupt_clip_is_media_error_naming_the_file(
    clips: dict[str, Path], preparer: MediaPreparer, kind: str, call: str
) -> None:
    source = clips[kind]
    with pytest.raises(MediaError) as info:
        if call == "frames":
            preparer.frames(source, 1.0, 8)
        else:
            getattr(preparer, call)(source)
    assert source.name in str(info.value)
    assert not isinstance(info.value, ModalityViolation)
    leftovers = [p for p in preparer.cache_dir.rglob("*") if p.is_file()]
    assert leftovers == []


# --- frames -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval_s", "max_frames", "expected_t"),
    [
        (0.5, 8, [0.0, 0.48, 1.0, 1.48]),  # every interval fits; at 25 fps 0.48 is on screen at 0.5
        (1.0, 8, [0.0, 1.0]),
        (0.5, 4, [0.0, 0.48, 1.0, 1.48]),  # exactly max_frames fit
        (0.25, 4, [0.0, 0.64, 1.28, 1.96]),  # 8 would fit: 4 spread from first to last frame
        (0.1, 1, [0.0]),
        (5.0, 3, [0.0]),  # interval longer than the clip
    ],
)
def test_frames_follow_interval_then_spread(
    clips: dict[str, Path],
    preparer: MediaPreparer,
    interval_s: float,
    max_frames: int,
    expected_t: list[float],
) -> None:
    frames = preparer.frames(clips["av"], interval_s, max_frames)
    assert [f.t for f in frames] == pytest.approx(expected_t, abs=1e-6)
    for f in frames:
        image = Image.open(io.BytesIO(f.jpeg))
        assert image.format == "JPEG"
        assert (f.width, f.height) == image.size == (64, 48)  # never enlarged
        grey = float(np.asarray(image.convert("L")).mean())
        assert grey == pytest.approx(round(f.t * FPS) * GREY_STEP, abs=6), "frame content != its time"


@pytest.mark.parametrize(("max_side", "size"), [(32, (32, 24)), (64, (64, 48)), (10, (10, 8))])
def test_frames_shrink_longer_side(
    clips: dict[str, Path], preparer: MediaPreparer, max_side: int, size: tuple[int, int]
) -> None:
    frames = preparer.frames(clips["av"], 1.0, 2, max_side=max_side)
    assert [(f.width, f.height) for f in frames] == [size, size]
    assert all(Image.open(io.BytesIO(f.jpeg)).size == size for f in frames)


def test_frames_quality_changes_bytes(clips: dict[str, Path], preparer: MediaPreparer) -> None:
    low = preparer.frames(clips["av"], 1.0, 2, quality=10)
    high = preparer.frames(clips["av"], 1.0, 2, quality=95)
    assert [f.t for f in low] == [f.t for f in high]
    assert low[0].jpeg != high[0].jpeg


def test_frames_are_memoised(
    clips: dict[str, Path], preparer: MediaPreparer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    real = media._sample_frames

    def counting(source: Path, *args: object) -> list[Frame]:
        calls.append(source)
        return list(real(source, *args))  # type: ignore[arg-type]

    monkeypatch.setattr(media, "_sample_frames", counting)
    first = preparer.frames(clips["av"], 0.5, 8)
    first.clear()  # callers get their own list
    second = preparer.frames(clips["av"], 0.5, 8)
    assert len(second) == 4
    assert len(calls) == 1
    preparer.frames(clips["av"], 0.5, 3)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "kwargs",
    [{"interval_s": 0.0}, {"interval_s": -1.0}, {"max_frames": 0}, {"max_side": 0}, {"quality": 0}],
)
def test_frames_reject_bad_parameters(
    clips: dict[str, Path], preparer: MediaPreparer, kwargs: dict[str, float]
) -> None:
    args = {"interval_s": 1.0, "max_frames": 8, **kwargs}
    with pytest.raises(ValueError, match="bad frame sampling"):
        preparer.frames(clips["av"], **args)  # type: ignore[arg-type]


# --- MediaView ----------------------------------------------------------------------------------


def test_avt_view_sees_everything(clips: dict[str, Path], preparer: MediaPreparer) -> None:
    view = MediaView(clips["av"], Modality.AVT, preparer)
    assert view.video_file() == clips["av"]
    assert set(streams(view.audio_file())) == {"audio"}
    assert len(view.frames(1.0, 8)) == 2
    assert view.content_hash == content_hash(clips["av"])


def test_vt_view_gets_no_audio(clips: dict[str, Path], preparer: MediaPreparer) -> None:
    view = MediaView(clips["av"], Modality.VT, preparer)
    assert set(streams(view.video_file())) == {"video"}
    assert len(view.frames(1.0, 8)) == 2
    with pytest.raises(ModalityViolation, match=r"'vt' withholds audio.*av\.mp4"):
        view.audio_file()


def test_at_view_gets_no_video(clips: dict[str, Path], preparer: MediaPreparer) -> None:
    view = MediaView(clips["av"], Modality.AT, preparer)
    assert set(streams(view.audio_file())) == {"audio"}
    with pytest.raises(ModalityViolation, match="'at' withholds video"):
        view.video_file()
    with pytest.raises(ModalityViolation, match="'at' withholds video frames"):
        view.frames(1.0, 8)


def test_modality_violation_is_a_media_error() -> None:
    assert issubclass(ModalityViolation, MediaError)


def test_view_does_not_expose_the_source(clips: dict[str, Path], preparer: MediaPreparer) -> None:
    view = MediaView(clips["av"], Modality.VT, preparer)
    public = {name: value for name, value in vars(view).items() if not name.startswith("_")}
    assert public == {"modality": Modality.VT}
    assert str(clips["av"].parent) not in repr(view)


def test_view_survives_pickling(clips: dict[str, Path], preparer: MediaPreparer) -> None:
    preparer.frames(clips["av"], 1.0, 2)
    view = pickle.loads(pickle.dumps(MediaView(clips["av"], Modality.VT, preparer)))
    assert view.modality is Modality.VT
    assert view.content_hash == content_hash(clips["av"])
    assert set(streams(view.video_file())) == {"video"}
    assert len(view.frames(1.0, 2)) == 2


def test_view_of_missing_clip_is_media_error(tmp_path: Path, preparer: MediaPreparer) -> None:
    for modality in Modality:
        view = MediaView(tmp_path / "gone.mp4", modality, preparer)
        with pytest.raises(MediaError, match=r"gone\.mp4"):
            view.audio_file() if modality.sees_audio else view.video_file()
        with pytest.raises(MediaError, match=r"gone\.mp4"):
            _ = view.content_hash


# --- several processes at once ------------------------------------------------------------------


def _prepare_in_child(cache: str, source: str, barrier: object, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    p = MediaPreparer(Path(cache))
    try:
        results.put((str(p.video_only(Path(source))), str(p.audio_only(Path(source)))))  # type: ignore[attr-defined]
    except BaseException as exc:  # report instead of dying silently
        results.put(repr(exc))  # type: ignore[attr-defined]


@pytest.mark.skipif(sys.platform == "win32", reason="needs the fork start method")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")  # 3.12+ under xdist's threads
def test_concurrent_preparation_yields_one_valid_file(clips: dict[str, Path], tmp_path: Path) -> None:
    # fork, not spawn: the children run this module's function without re-importing it by name.
    ctx = multiprocessing.get_context("fork")
    cache = tmp_path / "shared-cache"
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_prepare_in_child, args=(str(cache), str(clips["av"]), barrier, results))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    answers = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert all(isinstance(a, tuple) for a in answers), answers
    assert len(set(answers)) == 1
    video, audio = map(Path, answers[0])
    assert streams(video) == {"video": N_FRAMES}
    assert set(streams(audio)) == {"audio"}
    assert sorted(p.name for p in video.parent.iterdir()) == ["audio_only.m4a", "video_only.mp4"]
