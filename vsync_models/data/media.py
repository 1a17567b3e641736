"""The one place that decides what a model may perceive of a clip.

Adapters never see a clip's path: they get a :class:`MediaView`, which hands out only the streams the
request's modality allows. A video-only request receives a copy of the clip with the audio streams
physically removed (not a flag the adapter could forget to honour), an audio-only request cannot get
frames or the video at all. Derived files are cached by content hash, so a clip is prepared once no
matter how many models, modalities and xdist workers ask for it.

PyAV and OS errors are translated here into :class:`~vsync_models.errors.MediaError` naming the file,
so nothing above this module needs to know about FFmpeg.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import os
import threading
import uuid
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.container
from PIL import Image

from vsync_models.errors import MediaError, ModalityViolation
from vsync_models.types import Frame, Modality, Sampling

__all__ = [
    "MediaPreparer",
    "MediaView",
    "PrepStats",
    "audio_wav_bytes",
    "content_hash",
    "frame_times",
    "sampled_positions",
]

_HASH_CHUNK = 1 << 20


_hash_memo: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def content_hash(path: Path) -> str:
    """sha256 of the file's bytes, hex.

    The hash (not the path) keys every cache, so a clip moved or copied keeps its prepared files and
    cached answers, and an edited clip never reuses stale ones. It is memoised per process by
    (real path, size, mtime_ns): rehashing a clip for every request of every model would cost more
    than the requests' own preparation.
    """
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
        key = (real, st.st_size, st.st_mtime_ns)
        with _hash_lock:
            if key in _hash_memo:
                return _hash_memo[key]
        digest = hashlib.sha256()
        with open(real, "rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise MediaError(f"cannot read clip {path}: {exc.strerror or exc}") from exc
    value = digest.hexdigest()
    with _hash_lock:
        _hash_memo[key] = value
    return value


@dataclass
class PrepStats:
    """How often a preparation was really computed, and how often it was reused instead.

    ``prepared`` counts remuxes and frame decodes this process performed; ``reused`` counts answers
    from memory or from the disk cache (another worker's or an earlier run's work). Summed over a
    run's workers, ``prepared`` equals the number of distinct (clip content, preparation) pairs.
    """

    prepared: int = 0
    reused: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"prepared": self.prepared, "reused": self.reused}


@contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock across processes on one clip's cache directory (no lock file left behind)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: workers may then prepare a clip twice, harmlessly
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def _translated(action: str, path: Path) -> Iterator[None]:
    """Turn FFmpeg and OS failures into MediaError naming the clip (ours pass through untouched)."""
    try:
        yield
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise MediaError(f"cannot {action} {path}: {exc}") from exc


class MediaPreparer:
    """Derives stream-restricted files and sampled frames from clips, caching them on disk and in memory.

    Every preparation is keyed by the clip's content hash plus its settings and happens once per
    cache directory: threads of one process wait on a per-key lock, processes (xdist workers) on a
    file lock beside the target, and whoever comes second reads the finished file. Files are written
    to a temporary name and renamed into place, so a reader sees either no file or a complete one.
    Sampled frames are kept on disk too (one file per clip and sampling), so a second worker or a
    rerun never decodes the clip again; :attr:`stats` counts what was computed and what was reused.
    """

    def __init__(self, cache_dir: Path, max_clip_bytes: int | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.max_clip_bytes = max_clip_bytes
        """``runtime.max_clip_mb``: larger clips are refused before a byte is hashed or decoded."""
        self._frames: dict[tuple[str, float, int, int, int], tuple[Frame, ...]] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[Path, threading.Lock] = {}
        self.stats = PrepStats()

    def __getstate__(self) -> dict[str, Any]:
        # Requests carrying a MediaView may be pickled (xdist, caches): ship the location, not the
        # lock or the in-memory frames.
        return {"cache_dir": self.cache_dir, "max_clip_bytes": self.max_clip_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cache_dir"], state.get("max_clip_bytes"))  # type: ignore[misc]

    def check_size(self, source: Path) -> None:
        """A clip over the configured limit is a per-item error, not minutes of decoding or an upload."""
        if self.max_clip_bytes is None:
            return
        try:
            size = os.stat(source).st_size
        except OSError as exc:
            raise MediaError(f"cannot read clip {source}: {exc.strerror or exc}") from None
        if size > self.max_clip_bytes:
            raise MediaError(
                f"clip {source} is {size / 2**20:.1f} MiB, over the limit of "
                f"{self.max_clip_bytes / 2**20:g} MiB (runtime.max_clip_mb)"
            )

    def video_only(self, source: Path) -> Path:
        """The clip's first video stream alone, packets copied (no re-encode).

        Only that one stream is kept: audio streams obviously, but also subtitle and data streams
        (which can carry the transcript) and container metadata are dropped.
        """
        return self._derived(source, "video_only.mp4", lambda out: _remux(source, out, "video"))

    def audio_only(self, source: Path) -> Path:
        """The clip's first audio stream alone, packets copied into an m4a; MediaError if it has none."""
        return self._derived(source, "audio_only.m4a", lambda out: _remux(source, out, "audio"))

    def audio_wav(self, source: Path, rate: int = 16000) -> bytes:
        """The clip's first audio stream as mono 16-bit WAV at ``rate`` Hz (see :func:`audio_wav_bytes`),
        converted once per clip and rate and kept beside the other derived files."""

        def write(out: Path) -> None:
            out.write_bytes(audio_wav_bytes(source, rate))

        return self._derived(source, f"audio_{rate}.wav", write).read_bytes()

    def frames(
        self, source: Path, interval_s: float, max_frames: int, max_side: int = 448, quality: int = 70
    ) -> list[Frame]:
        """Frames for image-based APIs, as the original API path sampled them.

        One frame every ``interval_s`` seconds starting at 0; if more than ``max_frames`` would fit,
        ``max_frames`` frames spread evenly from the first to the last frame instead. Each is the
        frame on screen at its target time (the last one starting at or before it; duplicates
        dropped), shrunk so its longer side is at most ``max_side`` (never enlarged) and
        JPEG-encoded at ``quality``.
        """
        if interval_s <= 0 or max_frames < 1 or max_side < 1 or not 1 <= quality <= 100:
            raise ValueError(
                f"bad frame sampling: interval_s={interval_s}, max_frames={max_frames}, "
                f"max_side={max_side}, quality={quality}"
            )
        key = (content_hash(source), float(interval_s), max_frames, max_side, quality)
        with self._lock:
            cached = self._frames.get(key)
            if cached is not None:
                self.stats.reused += 1
        if cached is None:
            name = f"frames-i{interval_s:g}-n{max_frames}-s{max_side}-q{quality}.bin"
            target = self._derived(
                source,
                name,
                lambda out: _write_frames(
                    out, _sample_frames(source, interval_s, max_frames, max_side, quality)
                ),
            )
            with _translated("read prepared frames of", source):
                cached = tuple(_read_frames(target))
            with self._lock:
                self._frames[key] = cached
        return list(cached)

    def _key_lock(self, target: Path) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(target, threading.Lock())

    def _derived(self, source: Path, name: str, write: Callable[[Path], None]) -> Path:
        target = self.cache_dir / content_hash(source) / name
        if target.is_file():
            self._count(reused=True)
            return target
        with self._key_lock(target), _translated(f"prepare {name} from", source):
            target.parent.mkdir(parents=True, exist_ok=True)
            with _dir_lock(target.parent):
                if target.is_file():  # another thread or worker finished it while we waited
                    self._count(reused=True)
                    return target
                tmp = target.with_name(f".{name}.{os.getpid()}.{uuid.uuid4().hex}.part")
                try:
                    write(tmp)
                    os.replace(tmp, target)
                finally:
                    tmp.unlink(missing_ok=True)
        self._count(reused=False)
        return target

    def _count(self, reused: bool) -> None:
        with self._lock:
            if reused:
                self.stats.reused += 1
            else:
                self.stats.prepared += 1


def _open(source: Path) -> av.container.InputContainer:
    container = av.open(str(source), mode="r")
    if not isinstance(container, av.container.InputContainer):  # pragma: no cover - mode "r" always is
        container.close()
        raise MediaError(f"cannot read clip {source}: not an input container")
    return container


def _remux(source: Path, out: Path, kind: str) -> None:
    """Copy the first stream of ``kind`` from ``source`` into a fresh mp4 container at ``out``."""
    with _open(source) as inp:
        streams = [
            s
            for s in (inp.streams.video if kind == "video" else inp.streams.audio)
            if not (kind == "video" and s.disposition & av.stream.Disposition.attached_pic)
        ]
        if not streams:
            raise MediaError(f"clip {source} has no {kind} stream")
        stream = streams[0]
        with av.open(str(out), mode="w", format="mp4") as output:
            copy = output.add_stream_from_template(stream)
            for packet in inp.demux(stream):
                if packet.dts is None:  # demuxer's end-of-stream marker, nothing to copy
                    continue
                packet.stream = copy
                output.mux(packet)


def _sample_frames(
    source: Path, interval_s: float, max_frames: int, max_side: int, quality: int
) -> Iterator[Frame]:
    by_pts, keys, times = _frame_times(source)
    if not keys:
        raise MediaError(f"clip {source} has no decodable video frames")
    wanted = {keys[i]: times[i] for i in _positions(times, interval_s, max_frames)}

    with _open(source) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        found: dict[int, Frame] = {}
        for i, frame in enumerate(container.decode(stream)):
            key = frame.pts if by_pts else i
            if key in wanted and key not in found:
                found[key] = _to_jpeg(frame, wanted[key], max_side, quality)
                if len(found) == len(wanted):
                    break
    yield from sorted(found.values(), key=lambda f: f.t)


def sampled_positions(times: list[float], sampling: Sampling) -> list[int]:
    """Which frames (positions in display order, given their ``times`` in seconds from the first)
    a model sampling this way sees, ascending: every frame for ``fps=None`` (spread evenly over the
    clip when more than ``max_frames``), else the frame on screen at every ``1/fps`` seconds from 0,
    as :meth:`MediaView.frames` picks them for the OpenAI-compatible path."""
    if not times:
        return []
    if sampling.fps is None:
        if sampling.max_frames is None or len(times) <= sampling.max_frames:
            return list(range(len(times)))
        return _positions(times, None, sampling.max_frames)
    return _positions(times, 1.0 / sampling.fps, sampling.max_frames)


def _positions(times: list[float], interval_s: float | None, max_frames: int | None) -> list[int]:
    """One target time every ``interval_s`` from 0 (``None``: every frame's own time); if more than
    ``max_frames`` would fit, that many spread evenly from the first to the last frame instead; each
    target shows the last frame that started at or before it."""
    last = times[-1]
    n_fit = len(times) if interval_s is None else int(last / interval_s + 1e-9) + 1
    if max_frames is None or n_fit <= max_frames:
        targets = list(times) if interval_s is None else [k * interval_s for k in range(n_fit)]
    else:
        targets = [last * i / (max_frames - 1) if max_frames > 1 else 0.0 for i in range(max_frames)]
    return sorted({max(0, bisect.bisect_right(times, target + 1e-6) - 1) for target in targets})


def frame_times(source: Path) -> list[float]:
    """Every video frame's time in seconds from the first, in display order, read from the packets
    (no decoding) where the container has their timestamps."""
    with _translated("read the frame times of", source):
        return _frame_times(source)[2]


def _write_frames(out: Path, frames: Iterator[Frame]) -> None:
    """One file per clip and sampling: a JSON header line (time, size, length per frame), then the JPEGs."""
    listed = list(frames)
    header = json.dumps([[f.t, f.width, f.height, len(f.jpeg)] for f in listed])
    with open(out, "wb") as fh:
        fh.write(header.encode("ascii") + b"\n")
        for f in listed:
            fh.write(f.jpeg)


def _read_frames(path: Path) -> Iterator[Frame]:
    with open(path, "rb") as fh:
        header = json.loads(fh.readline())
        for t, width, height, length in header:
            yield Frame(t=float(t), jpeg=fh.read(int(length)), width=int(width), height=int(height))


def _frame_times(source: Path) -> tuple[bool, list[int], list[float]]:
    """Keys and times (s from the first frame) of every video frame, in display order.

    Packet timestamps give them without decoding, and then the keys are those pts. Only when a
    container lacks them (raw streams, some AVIs) are the frames decoded and counted instead; the
    keys are then positions in decoding order (first flag False).
    """
    with _open(source) as container:
        if not container.streams.video:
            raise MediaError(f"clip {source} has no video stream")
        stream = container.streams.video[0]
        pts = [p.pts for p in container.demux(stream) if p.dts is not None or p.pts is not None]
        if pts and all(p is not None for p in pts):
            ordered = sorted(pts)
            base = ordered[0]
            tb = float(stream.time_base or 0)
            if tb > 0:
                return True, ordered, [(p - base) * tb for p in ordered]
    with _open(source) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        times = []
        for i, frame in enumerate(container.decode(stream)):
            times.append(frame.time if frame.time is not None else i / rate)
        base = times[0] if times else 0.0
        return False, list(range(len(times))), [t - base for t in times]


def _to_jpeg(frame: av.VideoFrame, t: float, max_side: int, quality: int) -> Frame:
    image = frame.to_image()
    longer = max(image.width, image.height)
    if longer > max_side:
        scale = max_side / longer
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    return Frame(t=round(t, 6), jpeg=buf.getvalue(), width=image.width, height=image.height)


class MediaView:
    """What one request may see of one clip (the :class:`~vsync_models.types.Media` the harness builds).

    The source path is kept private and never returned for a modality that withholds a stream, so an
    adapter cannot leak audio into a video-only run (or frames into an audio-only one) by accident.
    """

    def __init__(self, source: Path, modality: Modality, preparer: MediaPreparer) -> None:
        self._source = Path(source)
        self.modality = modality
        self._preparer = preparer
        self._hash: str | None = None

    def __repr__(self) -> str:
        return f"MediaView({self._source.name!r}, {self.modality.value})"

    @property
    def content_hash(self) -> str:
        """sha256 of the source clip, computed on first use (cache keys, result records)."""
        if self._hash is None:
            self._preparer.check_size(self._source)
            self._hash = content_hash(self._source)
        return self._hash

    def video_file(self) -> Path:
        """A playable video file: the clip itself with audio (AVT), without any audio (VT)."""
        if not self.modality.sees_video:
            raise self._violation("video")
        self._preparer.check_size(self._source)
        if self.modality.sees_audio:
            if not self._source.is_file():
                raise MediaError(f"cannot read clip {self._source}: no such file")
            return self._source
        return self._preparer.video_only(self._source)

    def audio_file(self) -> Path:
        """The clip's audio alone as an m4a (AVT, AT)."""
        if not self.modality.sees_audio:
            raise self._violation("audio")
        self._preparer.check_size(self._source)
        return self._preparer.audio_only(self._source)

    def audio_wav(self, rate: int = 16000) -> bytes:
        """The clip's audio alone as mono 16-bit WAV bytes (AVT, AT); refused in VT like every audio stream."""
        if not self.modality.sees_audio:
            raise self._violation("audio")
        self._preparer.check_size(self._source)
        return self._preparer.audio_wav(self._source, rate)

    def frames(
        self, interval_s: float, max_frames: int, max_side: int = 448, quality: int = 70
    ) -> list[Frame]:
        """Sampled JPEG frames (AVT, VT); see :meth:`MediaPreparer.frames`."""
        if not self.modality.sees_video:
            raise self._violation("video frames")
        self._preparer.check_size(self._source)
        return self._preparer.frames(self._source, interval_s, max_frames, max_side, quality)

    def _violation(self, what: str) -> ModalityViolation:
        return ModalityViolation(
            f"modality {self.modality.value!r} withholds {what}; refused for clip {self._source.name}"
        )


def audio_wav_bytes(path: Path, rate: int = 16000) -> bytes:
    """The first audio stream of ``path`` as mono 16-bit PCM WAV at ``rate`` Hz.

    WAV is the one audio container every server reads: Gemini documents it, and vLLM's audio
    loader (libsndfile) cannot read the AAC in an m4a.
    """
    import numpy as np

    chunks = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{path} has no audio stream")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"cannot convert the audio of {path} to WAV: {exc}") from None
    samples = np.concatenate(chunks).astype("<i2") if chunks else np.zeros(0, "<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buf.getvalue()
