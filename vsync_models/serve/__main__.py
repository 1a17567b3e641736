"""``python -m vsync_models.serve --backend qwen2_5_omni --model-path DIR --port N``

Loads the model first, then listens: once ``/health`` answers, the model is ready. Binds
127.0.0.1 unless ``--host`` says otherwise; another address needs ``VSYNC_SERVER_TOKEN`` in the
environment (clients then send it as ``Authorization: Bearer``) and is warned about. ``--port 0`` takes a free port; with
``--ready-file PATH`` the server writes ``{"url": ..., "pid": ...}`` there once it listens
(how :mod:`vsync_models.serve.launch` learns the port). SIGTERM and Ctrl-C stop it cleanly.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["TOKEN_ENV", "build_parser", "main"]

DEFAULT_HOST = "127.0.0.1"
TOKEN_ENV = "VSYNC_SERVER_TOKEN"
"""The bearer token the server requires when set; required when binding a non-loopback address."""
DEFAULT_PORT = 8000


def build_parser() -> argparse.ArgumentParser:
    from vsync_models.serve.backends import BACKENDS

    p = argparse.ArgumentParser(
        prog="python -m vsync_models.serve",
        description="OpenAI-compatible chat-completions server for one local omni model (V-SYNC).",
    )
    p.add_argument(
        "--backend",
        required=True,
        type=_backend_name,
        metavar="{" + ",".join(sorted(BACKENDS)) + "}",
        help="model family, or package.module:factory for a backend of your own",
    )
    p.add_argument(
        "--model-path", required=True, help="checkpoint directory (or a hub id already in the cache)"
    )
    p.add_argument(
        "--served-model-name", default=None, help="model id in the API (default: the backend name)"
    )
    p.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this host only)"
    )
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port)"
    )
    p.add_argument("--ready-file", type=Path, default=None, help="write {url, pid} JSON here once listening")
    p.add_argument(
        "--device", default="auto", help="auto (cuda if available, spread over visible GPUs), cpu, cuda:N"
    )
    p.add_argument(
        "--dtype", default="auto", help="auto (bfloat16 on GPU, float32 on CPU), float32, bfloat16, float16"
    )
    p.add_argument(
        "--attn-implementation", default=None, help="e.g. sdpa, flash_attention_2 (default: transformers')"
    )
    p.add_argument(
        "--video-fps", type=float, default=None, help="frames per second sampled from videos (recipe: 2)"
    )
    p.add_argument("--video-max-frames", type=int, default=None, help="at most this many frames per video")
    p.add_argument(
        "--video-min-pixels", type=int, default=None, help="minimum pixels per frame after resizing"
    )
    p.add_argument(
        "--video-max-pixels", type=int, default=None, help="maximum pixels per frame after resizing"
    )
    p.add_argument("--video-reader", default="decord", choices=("decord", "torchvision", "torchcodec"))
    p.add_argument(
        "--allowed-local-media-path",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="accept file:// URLs below DIR (repeatable); without it only uploads are accepted",
    )
    p.add_argument(
        "--max-request-mb", type=float, default=256.0, help="largest request body, MiB (default 256)"
    )
    p.add_argument(
        "--default-max-tokens", type=int, default=None, help="max_tokens when a request names none"
    )
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    return p


def _backend_name(value: str) -> str:
    from vsync_models.serve.backends import BACKENDS

    if value in BACKENDS or (":" in value and all(value.partition(":")[::2])):
        return value
    raise argparse.ArgumentTypeError(f"unknown backend {value!r}; choose from {', '.join(sorted(BACKENDS))}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log = logging.getLogger("vsync_models.serve")
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if not _is_loopback(args.host):
        if token is None:
            log.error(
                "refusing to bind %s without a token: set %s (clients send it as a bearer token), "
                "or bind 127.0.0.1",
                args.host,
                TOKEN_ENV,
            )
            return 2
        log.warning(
            "binding %s: anyone who can reach this address and holds the token can use the model%s",
            args.host,
            " and read files below the allowed local media paths" if args.allowed_local_media_path else "",
        )

    try:
        import uvicorn

        from vsync_models.serve.app import ServerSettings, create_app
    except ImportError as exc:
        log.error("the server needs fastapi and uvicorn (%s): pip install 'vsync-bench[local]'", exc)
        return 2
    from vsync_models.serve.backend import BackendError, VideoSampling
    from vsync_models.serve.backends import load_backend

    video = VideoSampling(args.video_fps, args.video_max_frames, args.video_min_pixels, args.video_max_pixels)
    log.info("loading %s from %s", args.backend, args.model_path)
    try:
        backend = load_backend(
            args.backend,
            args.model_path,
            device=args.device,
            dtype=args.dtype,
            attn_implementation=args.attn_implementation,
            video=video,
            video_reader=args.video_reader,
        )
    except BackendError as exc:
        log.error("cannot load the model: %s", exc)
        return 2
    default_max_tokens = args.default_max_tokens
    if default_max_tokens is None:
        from vsync_models.serve.qwen_omni import DEFAULT_MAX_TOKENS

        default_max_tokens = DEFAULT_MAX_TOKENS.get(args.backend, 256)
    settings = ServerSettings(
        served_model_name=args.served_model_name or args.backend,
        max_request_bytes=int(args.max_request_mb * 1024 * 1024),
        default_max_tokens=default_max_tokens,
        allowed_local_media_paths=tuple(args.allowed_local_media_path),
        token=token,
    )
    try:
        app = create_app(backend, settings)
    except ValueError as exc:  # e.g. an allowed media path that is not a directory
        log.error("cannot start: %s", exc)
        return 2
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level, timeout_keep_alive=30
    )
    _make_server(config, args.ready_file).run()
    return 0


def _write_ready(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, path)


def _make_server(config: Any, ready_file: Path | None) -> Any:
    """uvicorn's server, plus a ready file naming the real port once it listens."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.should_exit or not self.servers or ready_file is None:
                return
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            _write_ready(ready_file, {"url": f"http://{shown}:{port}", "pid": os.getpid()})

    return Server(config)


if __name__ == "__main__":
    sys.exit(main())
