"""What a hostile answer costs one request: a 50 MB answer, and one that drips a byte at a time.

    python bench/hostile_responses.py [--mb 50] [--drip-s 1.0] [--timeout-s 5]

A server on 127.0.0.1 (this process) answers every chat request either with a ``--mb`` MB
completion or with a normal completion sent one byte per ``--drip-s`` seconds. Each case asks it
once through the real OpenAI-compatible client (``max_retries: 1``) in a child process of its own,
which prints its peak RSS and wall time:

* ``50 MB, limit 1 MB``: the default ``runtime.max_response_mb``; reading stops at the limit;
* ``50 MB, no limit``: what the client cost before the limit (``max_response_bytes=None``);
* ``drip, deadline``: ``timeout_s`` bounds the whole exchange, so the item ends after
  about ``timeout_s`` × attempts.
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def serve(body: bytes, drip_s: float | None) -> int:
    sock = socket.create_server(("127.0.0.1", 0))

    def one(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nContent-Type: application/json\r\n\r\n"
            answer = head.encode() + body
            try:
                if drip_s is None:
                    conn.sendall(answer)
                else:
                    for i in range(len(answer)):
                        conn.sendall(answer[i : i + 1])
                        time.sleep(drip_s)
            except OSError:
                pass

    def loop() -> None:
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return sock.getsockname()[1]


def completion(text: str) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()


def child(port: int, limit: int | None, timeout_s: float) -> None:
    """One request through the real client; prints outcome, wall time and this process's peak RSS."""
    import openai  # noqa: F401  (imported before the clock starts, as in a run)

    from vsync_models.models.openai_compat import OpenAICompatModel
    from vsync_models.models.retry import RetryPolicy
    from vsync_models.types import Modality, Request

    model = OpenAICompatModel(
        "openai:bench",
        "bench",
        f"http://127.0.0.1:{port}/v1",
        "sk-bench",
        timeout_s=timeout_s,
        retry=RetryPolicy(max_retries=1, base_s=0.01, cap_s=0.01),
        max_response_bytes=limit,
    )
    request = Request(
        item_id="q",
        level=1,
        modality=Modality.AT,  # no frames: the request carries text only
        prompt="p",
        question="q?",
        options=(),
        system_prompt="",
        user_prompt="",
        answer_format="",
        asr_text=None,
        media=None,  # type: ignore[arg-type]
    )
    start = time.perf_counter()
    try:
        out = model.generate(request)
        outcome = f"answered ({len(out.text) / 2**20:.1f} MB)"
    except Exception as exc:  # the error is the measurement
        outcome = f"{getattr(exc, 'kind', type(exc).__name__)}"
    wall = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"outcome": outcome, "wall_s": wall, "rss_mb": rss_mb}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--drip-s", type=float, default=1.0)
    parser.add_argument("--timeout-s", type=float, default=5.0)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        port, limit, timeout_s = args.child
        child(int(port), None if limit == "none" else int(limit), float(timeout_s))
        return 0
    big = serve(completion("A" * int(args.mb * 2**20)), None)
    drip = serve(completion("Answer: A"), args.drip_s)
    cases = [
        (f"{args.mb:g} MB, limit 1 MB", big, str(2**20), 120.0),
        (f"{args.mb:g} MB, no limit", big, "none", 120.0),
        (f"drip {args.drip_s:g} s/byte, timeout_s {args.timeout_s:g}", drip, "none", args.timeout_s),
    ]
    print(f"{'case':<34} {'outcome':<22} {'wall s':>7} {'peak RSS MB':>12}")
    for label, port, limit, timeout_s in cases:
        cmd = [sys.executable, __file__, "--child", str(port), limit, str(timeout_s)]
        line = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=True).stdout.strip()
        row = json.loads(line.splitlines()[-1])
        print(f"{label:<34} {row['outcome']:<22} {row['wall_s']:>7.2f} {row['rss_mb']:>12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
