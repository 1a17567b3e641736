"""Qwen2.5-Omni, Qwen3-Omni Instruct and Qwen3-Omni Thinking through transformers, thinker only.

The official recipe, step for step (Qwen's model cards)::

    conversation ─▶ processor.apply_chat_template(..., tokenize=False)
                 ─▶ qwen_omni_utils.process_mm_info(conversation, use_audio_in_video)   # frames + 16 kHz audio
                 ─▶ processor(text, audio, images, videos, use_audio_in_video → interleaved placeholders)
                 ─▶ thinker.generate(..., use_audio_in_video)                          # text only, greedy default

Only the *thinker* (the text-producing half) is loaded: full checkpoints (``qwen2_5_omni``,
``qwen3_omni_moe``) are loaded with ``enable_audio_output=False``, so the talker and vocoder are
never built; thinker-only checkpoints load directly. The prompt's audio and video placeholder
tokens are counted from the processed ``input_ids``: that count is the server-side proof that
audio reached the model.

Thinking models: when the chat template opens ``<think>`` in the prompt, the generated text
starts inside the block; the opening tag is put back so the raw response is self-contained.
Answer extraction strips the block before scoring.

Environment (see ``.ci/run`` and the README): ``qwen_omni_utils`` reads a video's soundtrack
through an ``ffmpeg`` binary; its video reader is forced to ``decord`` (torchcodec wheels are
CUDA-linked); torchvision is imported through :mod:`vsync_models.serve._torchvision`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
from pathlib import Path
from typing import Any

from vsync_models.serve.backend import (
    BackendError,
    Generation,
    MediaPart,
    Prompt,
    TextPart,
    VideoSampling,
)

__all__ = ["DEFAULT_MAX_TOKENS", "FAMILIES", "QwenOmniBackend", "checkpoint_hashes"]

FAMILIES: dict[str, dict[str, Any]] = {
    "qwen2_5_omni": {
        "layouts": {"qwen2_5_omni": "full", "qwen2_5_omni_thinker": "thinker"},
        "full": "Qwen2_5OmniForConditionalGeneration",
        "thinker": "Qwen2_5OmniThinkerForConditionalGeneration",
    },
    "qwen3_omni": {
        "layouts": {"qwen3_omni_moe": "full", "qwen3_omni_moe_thinker": "thinker"},
        "full": "Qwen3OmniMoeForConditionalGeneration",
        "thinker": "Qwen3OmniMoeThinkerForConditionalGeneration",
    },
}
_FAMILY_OF = {"qwen2_5_omni": "qwen2_5_omni", "qwen3_omni": "qwen3_omni", "qwen3_omni_thinking": "qwen3_omni"}

DEFAULT_MAX_TOKENS = {"qwen2_5_omni": 256, "qwen3_omni": 256, "qwen3_omni_thinking": 4096}
"""Server-side default when a request names no ``max_tokens`` (thinking needs room to think)."""

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_SAMPLE = 1 << 20
_THINK_OPEN = "<think>"


def checkpoint_hashes(directory: Path, serving: dict[str, Any]) -> tuple[str, str]:
    """``(config_hash, weights_id)`` of a checkpoint directory.

    ``config_hash``: sha256 over every non-weight file (config, generation config, processor,
    tokenizer, chat template) and the serving settings that change answers. ``weights_id``:
    sha256 over each weight file's name, size and its first and last MiB: cheap for 60 GB
    checkpoints, yet different for any two trainings.
    """
    config = hashlib.sha256()
    weights = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        if path.suffix in _WEIGHT_SUFFIXES:
            size = path.stat().st_size
            weights.update(f"{rel}\0{size}\0".encode())
            with open(path, "rb") as fh:
                weights.update(fh.read(_SAMPLE))
                if size > 2 * _SAMPLE:
                    fh.seek(size - _SAMPLE)
                    weights.update(fh.read(_SAMPLE))
        else:
            config.update(f"{rel}\0".encode())
            config.update(hashlib.sha256(path.read_bytes()).digest())
    config.update(json.dumps(serving, sort_keys=True, default=str).encode())
    return config.hexdigest(), weights.hexdigest()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


class QwenOmniBackend:
    """One Qwen-Omni thinker, loaded once; ``generate`` is called one request at a time."""

    def __init__(
        self,
        kind: str,
        model_path: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        attn_implementation: str | None = None,
        video: VideoSampling | None = None,
        video_reader: str = "decord",
    ) -> None:
        if kind not in _FAMILY_OF:
            raise BackendError(f"unknown Qwen-Omni backend {kind!r}; known: {', '.join(sorted(_FAMILY_OF))}")
        self.kind = kind
        self.family = _FAMILY_OF[kind]
        self.video = video or VideoSampling()
        # qwen_omni_utils reads this once, at import: it must be set before.
        os.environ["FORCE_QWENVL_VIDEO_READER"] = video_reader
        if shutil.which("ffmpeg") is None:
            raise BackendError(
                "qwen_omni_utils reads audio through the ffmpeg program, which is not on PATH "
                "(Debian/Ubuntu: apt-get install ffmpeg)"
            )
        try:
            from vsync_models.serve._torchvision import import_torchvision

            self.torchvision_ops = import_torchvision()
            import torch
            import transformers
            from qwen_omni_utils import process_mm_info
        except ImportError as exc:
            raise BackendError(
                f"the local model stack is not installed ({exc}); pip install 'vsync-bench[local]' "
                "(torch first: see the README)"
            ) from None
        self._torch = torch
        self._process_mm_info = process_mm_info

        try:
            config = transformers.AutoConfig.from_pretrained(model_path)
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot read a model config at {model_path}: {exc}") from None
        family = FAMILIES[self.family]
        layout = family["layouts"].get(config.model_type)
        if layout is None:
            raise BackendError(
                f"{model_path} is a {config.model_type!r} checkpoint; backend {kind!r} loads "
                f"{' or '.join(repr(t) for t in family['layouts'])}"
            )
        self.device, torch_dtype, device_map = self._placement(torch, device, dtype)
        load_kwargs: dict[str, Any] = {"dtype": torch_dtype}
        if attn_implementation:
            load_kwargs["attn_implementation"] = attn_implementation
        if device_map is not None:
            load_kwargs["device_map"] = device_map
        cls = getattr(transformers, family[layout])
        if layout == "full":
            load_kwargs["enable_audio_output"] = False  # thinker only: no talker, no vocoder
        model = cls.from_pretrained(model_path, **load_kwargs)
        self.model = (model.thinker if layout == "full" else model).eval()
        if device_map is None:
            self.model.to(self.device)
        self.processor = transformers.AutoProcessor.from_pretrained(model_path)
        self.patch_size = int(getattr(self.processor.video_processor, "patch_size", 14))
        self._stop_at_end_of_turn(model)
        self.dtype = torch_dtype
        self.layout = layout

        directory = Path(model_path)
        if not directory.is_dir():  # a hub id: the files are in the local hub cache by now
            from huggingface_hub import snapshot_download

            directory = Path(snapshot_download(model_path, local_files_only=True))
        self.checkpoint = str(directory.resolve())
        self._description = self._describe(directory, config)

    # -- Backend protocol -----------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return dict(self._description)

    def generate(self, prompt: Prompt) -> Generation:
        torch = self._torch
        conversation = self._conversation(prompt)
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        if isinstance(text, list):
            text = text[0]
        use = prompt.use_audio_in_video
        audios, images, videos, video_kwargs = self._process_mm_info(
            conversation, use_audio_in_video=use, return_video_kwargs=True, image_patch_size=self.patch_size
        )
        extra: dict[str, Any] = {}
        if videos:
            videos_kwargs: dict[str, Any] = {"do_sample_frames": False}
            fps = (video_kwargs or {}).get("fps") or []
            if fps:
                videos_kwargs["fps"] = float(fps[0])
            sampling = self.video.merged(prompt.video)
            if sampling.min_pixels is not None or sampling.max_pixels is not None:
                size = dict(getattr(self.processor.video_processor, "size", None) or {})
                if sampling.min_pixels is not None:
                    size["shortest_edge"] = sampling.min_pixels
                if sampling.max_pixels is not None:
                    size["longest_edge"] = sampling.max_pixels
                videos_kwargs["size"] = size
            extra["videos_kwargs"] = videos_kwargs
        if use:
            extra["load_audio_from_video"] = True
            extra["audio_from_video_indices"] = _audio_slots(prompt)
        inputs = self.processor(
            text=text, audio=audios, images=images, videos=videos, return_tensors="pt", padding=True, **extra
        )
        inputs = inputs.to(self.device)
        inputs = inputs.to(self.dtype)  # BatchFeature casts floating tensors only
        input_ids = inputs["input_ids"]
        n_prompt = int(input_ids.shape[1])
        audio_tokens = int((input_ids == self.processor.audio_token_id).sum())
        video_tokens = int((input_ids == self.processor.video_token_id).sum())

        gen_kwargs: dict[str, Any] = {"max_new_tokens": prompt.max_new_tokens, "use_audio_in_video": use}
        if prompt.temperature > 0:
            gen_kwargs.update(do_sample=True, temperature=prompt.temperature, top_p=prompt.top_p or 1.0)
            if prompt.seed is not None:
                torch.manual_seed(prompt.seed)
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            output = self.model.generate(**inputs, **gen_kwargs)
        sequences = getattr(output, "sequences", output)
        new = sequences[0, n_prompt:]
        answer = self.processor.batch_decode(
            new[None], skip_special_tokens=True, clean_up_tokenization_spaces=False
        )[0]
        return Generation(
            text=_restore_think(text, answer),
            prompt_tokens=n_prompt,
            completion_tokens=int(new.shape[0]),
            audio_tokens=audio_tokens,
            video_tokens=video_tokens,
            finish_reason=self._finish_reason(new, prompt.max_new_tokens),
        )

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _placement(torch: Any, device: str, dtype: str) -> tuple[str, Any, str | None]:
        cuda = torch.cuda.is_available()
        if device == "auto":
            device = "cuda" if cuda else "cpu"
        if device.startswith("cuda") and not cuda:
            raise BackendError(f"device {device!r} asked for, but torch sees no CUDA device")
        names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        elif dtype in names:
            torch_dtype = names[dtype]
        else:
            raise BackendError(f"unknown dtype {dtype!r}; use auto, {', '.join(names)}")
        # "cuda" alone spreads a large checkpoint over every visible GPU (CUDA_VISIBLE_DEVICES).
        device_map = "auto" if device == "cuda" else None
        return device, torch_dtype, device_map

    def _stop_at_end_of_turn(self, loaded: Any) -> None:
        """Make sure generation stops at the chat template's end of turn.

        A thinker taken out of a full checkpoint carries a generation config built from its own
        config, which may lack the end-of-turn token that the full model's ``generation_config.json``
        names; without it greedy decoding runs to ``max_tokens`` every time.
        """
        config = self.model.generation_config
        tokenizer = self.processor.tokenizer
        ids: set[int] = set()
        for source in (config.eos_token_id, loaded.generation_config.eos_token_id, tokenizer.eos_token_id):
            if source is not None:
                ids.update(source if isinstance(source, list) else [source])
        end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(end_of_turn, int) and end_of_turn != tokenizer.unk_token_id:
            ids.add(end_of_turn)
        if not ids:
            raise BackendError("the checkpoint names no end-of-sequence token (generation would never stop)")
        config.eos_token_id = sorted(ids)
        if config.pad_token_id is None:
            config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(ids)

    def _conversation(self, prompt: Prompt) -> list[dict[str, Any]]:
        sampling = self.video.merged(prompt.video)
        conversation = []
        for message in prompt.messages:
            content: list[dict[str, Any]] = []
            for part in message.parts:
                if isinstance(part, TextPart):
                    content.append({"type": "text", "text": part.text})
                elif part.kind == "video":
                    element: dict[str, Any] = {"type": "video", "video": str(part.path)}
                    element.update({k: v for k, v in sampling.as_dict().items() if v is not None})
                    content.append(element)
                else:
                    content.append({"type": "audio", "audio": str(part.path)})
            conversation.append({"role": message.role, "content": content})
        return conversation

    def _finish_reason(self, new: Any, max_new_tokens: int) -> str:
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        if new.shape[0] and int(new[-1]) in eos_ids:
            return "stop"
        return "length" if new.shape[0] >= max_new_tokens else "stop"

    def _describe(self, directory: Path, config: Any) -> dict[str, Any]:
        serving = {
            "backend": self.kind,
            "layout": self.layout,
            "dtype": str(self.dtype).replace("torch.", ""),
            "video": self.video.as_dict(),
            "video_reader": os.environ.get("FORCE_QWENVL_VIDEO_READER"),
            "versions": {
                dist: _version(dist) for dist in ("transformers", "qwen-omni-utils", "torch", "torchvision")
            },
        }
        config_hash, weights_id = checkpoint_hashes(directory, serving)
        text_config = getattr(config, "thinker_config", config)
        text_config = getattr(text_config, "text_config", text_config)
        return {
            "backend": self.kind,
            "checkpoint": self.checkpoint,
            "model_type": config.model_type,
            "architecture": type(self.model).__name__,
            "config_hash": config_hash,
            "weights_id": weights_id,
            "parameters": int(sum(p.numel() for p in self.model.parameters())),
            "device": str(self.device),
            "max_model_len": getattr(text_config, "max_position_embeddings", None),
            "torchvision_ops": self.torchvision_ops,
            "greedy_by_default": True,
            **serving,
        }


def _audio_slots(prompt: Prompt) -> list[int | None]:
    """``audio_from_video_indices`` in the order ``process_mm_info`` collects audio.

    It walks messages and parts in order: an audio part is a standalone slot (``None``), a video
    (with ``use_audio_in_video``) contributes its soundtrack (the video's index).
    """
    slots: list[int | None] = []
    video_index = 0
    for part in prompt.media():
        if isinstance(part, MediaPart) and part.kind == "video":
            slots.append(video_index)
            video_index += 1
        else:
            slots.append(None)
    return slots


def _restore_think(prompt_text: str, answer: str) -> str:
    """Put back a ``<think>`` the chat template opened in the prompt, so the raw response is whole."""
    at = prompt_text.rfind(_THINK_OPEN)
    if at == -1 or "</think>" in prompt_text[at:]:
        return answer
    tail = prompt_text[at:]
    if tail.strip() != _THINK_OPEN:
        return answer
    return tail + answer
