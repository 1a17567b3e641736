"""One OpenAI-compatible HTTP API for every local omni model.

    client (vsync_models.models.omni_server)
        │  POST /v1/chat/completions: text + video_url / audio_url / input_audio parts,
        │  use_audio_in_video, modality
        ▼
    app (FastAPI): size limit ─▶ parse (protocol) ─▶ media (uploads → temp files, file:// under
        │          allowed roots) ─▶ probe streams ─▶ one generation at a time
        ▼
    Backend.generate(Prompt) -> Generation       (qwen_omni: transformers thinker + qwen_omni_utils)

The harness only ever speaks this protocol (vLLM's OpenAI server speaks the same one), so a
model served here, by vLLM, or on another host is the same thing to the benchmark. The server
is a separate process started with ``python -m vsync_models.serve``; the benchmark imports only
what starts and stops it (:mod:`~vsync_models.serve.serving`, :mod:`~vsync_models.serve.launch`,
:mod:`~vsync_models.serve.vllm_engine`).

Modules: :mod:`~vsync_models.serve.protocol` (request parsing, no web framework),
:mod:`~vsync_models.serve.media` (uploads and local paths), :mod:`~vsync_models.serve.backend`
(the backend seam), :mod:`~vsync_models.serve.backends` (backend names → loaders),
:mod:`~vsync_models.serve.qwen_omni` (transformers backends),
:mod:`~vsync_models.serve.app` (FastAPI), :mod:`~vsync_models.serve.launch` (start, health, stop),
:mod:`~vsync_models.serve.vllm_engine` (the same for ``vllm serve``),
:mod:`~vsync_models.serve.serving` (how a run serves its model: nothing, an endpoint, our server,
vLLM or replicas, behind one interface),
:mod:`~vsync_models.serve.tiny` (tiny random checkpoints for CPU tests).
"""

from __future__ import annotations

__all__: list[str] = []
