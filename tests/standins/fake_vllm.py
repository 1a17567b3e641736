"""A stand-in for ``vllm serve``: same command line, same protocol, no GPU (the echo backend answers).

Run as ``python tests/standins/fake_vllm.py serve MODEL --host H --port P ...`` (configure it as
``models.<name>.vllm_command``). It behaves the way vLLM does where the harness can tell:

- every start appends ``{"argv": [...], "cuda_visible_devices": ...}`` to ``$FAKE_VLLM_RECORD``;
- it listens only once "loaded" (``$FAKE_VLLM_LOAD_S`` seconds, logging as it goes);
  ``$FAKE_VLLM_FAIL`` makes it exit 1 with an error in its log instead;
- ``GET /health`` answers 200 with an empty body; ``/v1/models`` lists the model path as the
  model id, without our server's ``vsync`` block;
- ``mm_processor_kwargs.use_audio_in_video`` is ignored (the Qwen3-Omni model card: not available
  in ``vllm serve``); frames are sampled as ``media_io_kwargs.video`` says (``num_frames``,
  ``fps``), and ``max_frames`` among the processor kwargs is an error, as in vLLM; our
  ``modality`` field, which vLLM would only warn about, is refused here so that the client is
  seen not to send it; usage has no ``prompt_tokens_details``;
- audio it cannot decode (anything uploaded but WAV, as for libsndfile) is a 400.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.standins.tiny_omni import EchoBackend
from vsync_models.serve.app import ServerSettings, create_app


class VllmFace:
    """ASGI wrapper that makes our app look like vLLM's OpenAI server to a client."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/health":
            await _reply(send, 200, b"", "text/plain")
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if path == "/v1/chat/completions" and body:
            request = json.loads(body)
            if "modality" in request or "max_frames" in (request.get("mm_processor_kwargs") or {}):
                error = {
                    "error": {"message": "The timestamps length should be equal video length", "code": 500}
                }
                await _reply(send, 500, json.dumps(error).encode(), "application/json")
                return
            mm = request.setdefault("mm_processor_kwargs", {})
            mm.pop("use_audio_in_video", None)
            # what the video loader samples, shown to the echo backend in our protocol's terms
            video_io = (request.pop("media_io_kwargs", None) or {}).get("video") or {}
            mm.update(
                {
                    k2: video_io[k1]
                    for k1, k2 in (("num_frames", "max_frames"), ("fps", "fps"))
                    if k1 in video_io
                }
            )
            for msg in request.get("messages", []):
                for part in msg.get("content") if isinstance(msg.get("content"), list) else []:
                    url = (part.get("audio_url") or {}).get("url", "") if isinstance(part, dict) else ""
                    if url.startswith("data:") and not url.startswith("data:audio/wav"):
                        error = {"error": {"message": f"cannot decode audio {url[:30]}...", "code": 400}}
                        await _reply(send, 400, json.dumps(error).encode(), "application/json")
                        return
            body = json.dumps(request).encode()
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            data = b"".join(chunks)
            if start.get("status") == 200 and path.startswith("/v1/"):
                payload = json.loads(data)
                for entry in payload.get("data", []) if isinstance(payload, dict) else []:
                    entry.pop("vsync", None)
                if isinstance(payload.get("usage"), dict):
                    payload["usage"].pop("prompt_tokens_details", None)
                data = json.dumps(payload).encode()
            await _reply(send, start.get("status", 500), data, "application/json")

        await self.app({**scope}, replay, capture)


async def _reply(send: Any, status: int, data: bytes, kind: str) -> None:
    headers = [(b"content-type", kind.encode()), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vllm")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("model")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args, _ = parser.parse_known_args(argv)
    record = os.environ.get("FAKE_VLLM_RECORD")
    if record:
        with open(record, "a", encoding="utf-8") as out:
            entry = {"argv": argv, "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
            out.write(json.dumps(entry) + "\n")
    print(f"INFO vllm serve {args.model}: loading weights", flush=True)
    if os.environ.get("FAKE_VLLM_FAIL"):
        print("ERROR torch.OutOfMemoryError: CUDA out of memory while loading the model", flush=True)
        return 1
    load_s = float(os.environ.get("FAKE_VLLM_LOAD_S", "0"))
    deadline = time.monotonic() + load_s
    while time.monotonic() < deadline:
        print(f"INFO loading safetensors shards ({deadline - time.monotonic():.1f}s to go)", flush=True)
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    import uvicorn

    app = create_app(EchoBackend(args.model), ServerSettings(served_model_name=args.model))
    uvicorn.run(VllmFace(app), host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
