"""Media parts → files the backend may open, and nothing else.

Two ways in, both closed by default to everything that is not asked for:

* **Uploads** (``data:`` URLs, ``input_audio``) are decoded into a private temporary directory
  under a name the server makes up (a random hex name plus a suffix chosen from a fixed table
  of MIME types). A client-supplied name never becomes a path, so no upload can land anywhere
  else or overwrite anything. The files are deleted when the request ends.
* **Local paths** (``file://`` URLs) are only read below the directories the server was started
  with (``--allowed-local-media-path``, as vLLM names it), after resolving symlinks; without
  such a directory they are refused. Remote ``http(s)`` URLs are never fetched.

Every file is then probed with PyAV for the streams its part needs (a video stream for a video,
an audio stream for an audio part or for ``use_audio_in_video``), so a broken or silent clip is
a 400 naming the part instead of a crash deep inside a processor.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlparse

import av

from vsync_models.serve.protocol import MediaSource, RequestError

__all__ = ["AUDIO_TYPES", "VIDEO_TYPES", "MediaStore", "probe_streams"]

VIDEO_TYPES = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi",
    "video/mpeg": ".mpg",
}
AUDIO_TYPES = {
    "audio/mp4": ".m4a",
    "audio/m4a": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/aac": ".aac",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
}
_INPUT_AUDIO_FORMATS = {
    "wav": ".wav",
    "mp3": ".mp3",
    "m4a": ".m4a",
    "aac": ".aac",
    "flac": ".flac",
    "ogg": ".ogg",
}


def probe_streams(path: Path) -> set[str]:
    """Stream types PyAV finds in ``path`` (``{"video", "audio"}``); raises ``ValueError`` if unreadable."""
    try:
        with av.open(str(path)) as container:
            kinds = {s.type for s in container.streams if s.type in ("video", "audio")}
            if "video" in kinds and all(
                s.disposition & av.stream.Disposition.attached_pic for s in container.streams.video
            ):
                kinds.discard("video")  # cover art is not a video
            return kinds
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None


class MediaStore:
    """Materialises media parts for one server; thread-safe, one instance per app."""

    def __init__(self, allowed_roots: Iterable[Path] = (), tmp_root: Path | None = None) -> None:
        self.allowed_roots = tuple(Path(os.path.realpath(r)) for r in allowed_roots)
        for root in self.allowed_roots:
            if not root.is_dir():
                raise ValueError(f"allowed local media path {root} is not a directory")
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="vsync-serve-", dir=tmp_root))
        os.chmod(self.tmp_dir, 0o700)

    def close(self) -> None:
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    # -- materialise ----------------------------------------------------------------------

    def materialise(self, source: MediaSource, owned: list[Path]) -> Path:
        """The file for ``source``; uploads are appended to ``owned`` so the caller can delete them."""
        if source.data is not None:
            suffix = _INPUT_AUDIO_FORMATS.get(source.format or "")
            if suffix is None:
                raise RequestError(
                    415,
                    f"{source.where}: input_audio format {source.format!r} is not supported; "
                    f"use one of {', '.join(sorted(_INPUT_AUDIO_FORMATS))}",
                    param=f"{source.where}.input_audio.format",
                    code="unsupported_media_type",
                )
            return self._write_upload(_b64decode(source.data, source.where), suffix, owned)
        url = source.url or ""
        if url.startswith("data:"):
            mime, payload = _split_data_url(url, source.where)
            table = VIDEO_TYPES if source.kind == "video" else AUDIO_TYPES
            suffix = table.get(mime)
            if suffix is None:
                raise RequestError(
                    415,
                    f"{source.where}: {source.kind} type {mime!r} is not supported; "
                    f"use one of {', '.join(sorted(table))}",
                    param=source.where,
                    code="unsupported_media_type",
                )
            return self._write_upload(_b64decode(payload, source.where), suffix, owned)
        if url.startswith("file://"):
            return self._local(url, source.where)
        scheme = urlparse(url).scheme or "(none)"
        raise RequestError(
            400,
            f"{source.where}: URL scheme {scheme!r} is not accepted; send a data: URL (upload) or a "
            "file:// URL below an allowed local media path. Remote URLs are never fetched.",
            param=source.where,
            code="unsupported_url",
        )

    def _write_upload(self, data: bytes, suffix: str, owned: list[Path]) -> Path:
        if not data:
            raise RequestError(400, "an uploaded media part is empty", code="empty_media")
        # The name is ours alone: random hex + a suffix from a fixed table.
        path = self.tmp_dir / f"{secrets.token_hex(16)}{suffix}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        owned.append(path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return path

    def _local(self, url: str, where: str) -> Path:
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise RequestError(
                400, f"{where}: file:// URLs must name a local path", param=where, code="bad_url"
            )
        if not self.allowed_roots:
            raise RequestError(
                403,
                f"{where}: local paths are disabled on this server; start it with "
                "--allowed-local-media-path DIR, or upload the file as a data: URL",
                param=where,
                code="local_media_forbidden",
            )
        raw = unquote(parsed.path)
        if not os.path.isabs(raw) or "\x00" in raw:
            raise RequestError(
                400, f"{where}: file:// URLs must hold an absolute path", param=where, code="bad_url"
            )
        real = Path(os.path.realpath(raw))
        if not any(real.is_relative_to(root) for root in self.allowed_roots):
            raise RequestError(
                403,
                f"{where}: {raw} is outside the allowed local media paths",
                param=where,
                code="local_media_forbidden",
            )
        if not real.is_file():
            raise RequestError(404, f"{where}: no such file: {raw}", param=where, code="media_not_found")
        return real


def _split_data_url(url: str, where: str) -> tuple[str, str]:
    head, sep, payload = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise RequestError(400, f"{where}: data URLs must be base64 (data:<type>;base64,<data>)", param=where)
    mime = head[len("data:") : -len(";base64")].split(";")[0].strip().lower()
    return mime, payload


def _b64decode(payload: str, where: str) -> bytes:
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(
            400, f"{where}: media data is not valid base64", param=where, code="bad_base64"
        ) from None
