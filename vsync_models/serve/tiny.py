"""Tiny, randomly initialised Qwen-Omni checkpoints: the real serving code path on a CPU, no download.

It ships in the package because ``models.<name>.tiny: true`` is a user-facing setting: a smoke run of
the whole local serving path (server, processor, audio canary) on a machine without the weights.

``build_tiny_checkpoint("qwen2_5_omni", DIR)`` writes a checkpoint laid out like the published
ones (``config.json`` of the full omni model with only the thinker's weights, processor,
tokenizer, chat template, generation config) that :class:`~vsync_models.serve.qwen_omni.QwenOmniBackend`
loads exactly as it loads ``Qwen/Qwen2.5-Omni-7B``. The model has ~70k parameters and answers
gibberish; what it proves is that the server, the official preprocessing, the processor's
audio/video interleaving and generation fit together, and that audio tokens reach the model.

Everything is built here: a byte-level BPE tokenizer trained with ``tokenizers`` on a few
sentences (special tokens named as the Qwen processors expect), a Qwen-style chat template,
and configs whose sizes agree with each other (vision patch and merge sizes match the
processors, ``mrope_section`` sums to half the head dimension, 128 mel bins everywhere).

    python -m vsync_models.serve.tiny qwen2_5_omni /tmp/tiny-qwen25     # prints the directory
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["TINY_FAMILIES", "TINY_VERSION", "build_tiny_checkpoint"]

TINY_VERSION = 1
"""Bumped when the builder changes, so a cached checkpoint from an older builder is rebuilt."""

TINY_FAMILIES = ("qwen2_5_omni", "qwen3_omni", "qwen3_omni_thinking")

_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|AUDIO|>",
    "<|IMAGE|>",
    "<|VIDEO|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
]
_NAMED = {
    "audio_token": "<|AUDIO|>",
    "image_token": "<|IMAGE|>",
    "video_token": "<|VIDEO|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
}
_CORPUS = [
    "Which character said the sentence? Answer with the option letter A, B, C or D.",
    "You are a precise video-audio reasoning assistant. Options: A. the red circle B. the blue square",
    "Please carefully analyze the video, paying attention to the temporal relationship.",
    "[SYSTEM] [ASR] Answer ONLY with the option letter. Do not include any other text.",
]
_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% elif part['type'] == 'video' %}<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif part['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif part['type'] == 'image' %}<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_THINKING_TEMPLATE = _TEMPLATE.replace(
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}",
)


def _tokenizer(template: str) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=_SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS * 8, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=dict(_NAMED),
    )
    # As in Qwen3's tokenizer: reasoning tags are added tokens, not special ones, so decoding keeps them.
    fast.add_tokens(["<think>", "</think>"])
    fast.chat_template = template
    return fast


def _text_config(family: str, vocab: int) -> dict[str, Any]:
    common = {
        "vocab_size": vocab,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 32768,
    }
    if family == "qwen2_5_omni":  # head_dim 16 → mrope sections sum to 8
        return {
            **common,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
        }
    return {
        **common,
        "head_dim": 16,
        "moe_intermediate_size": 16,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 1e6,
            "mrope_section": [4, 2, 2],
            "mrope_interleaved": True,
        },
    }


def _build(family: str, out: Path, layout: str, seed: int) -> None:
    import torch
    import transformers as tf

    from vsync_models.serve._torchvision import import_torchvision

    import_torchvision()  # the video processor imports torchvision
    qwen3 = family != "qwen2_5_omni"
    tok = _tokenizer(_THINKING_TEMPLATE if family == "qwen3_omni_thinking" else _TEMPLATE)
    ids = {t: tok.convert_tokens_to_ids(t) for t in _SPECIAL}
    patch = 16 if qwen3 else 14
    audio = {
        "num_mel_bins": 128,
        "encoder_layers": 1,
        "encoder_attention_heads": 2,
        "encoder_ffn_dim": 32,
        "d_model": 16,
        "output_dim": 32,
    }
    vision = {
        "depth": 1,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_heads": 2,
        "patch_size": patch,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": 32,
    }
    text = _text_config("qwen3" if qwen3 else "qwen2_5_omni", len(tok))
    if qwen3:
        audio["downsample_hidden_size"] = 8
        vision.update(deepstack_visual_indexes=[0], num_position_embeddings=64)
        thinker = tf.Qwen3OmniMoeThinkerConfig(
            audio_config=audio,
            vision_config=vision,
            text_config=text,
            audio_token_id=ids["<|AUDIO|>"],
            image_token_id=ids["<|IMAGE|>"],
            video_token_id=ids["<|VIDEO|>"],
            audio_start_token_id=ids["<|audio_bos|>"],
            vision_start_token_id=ids["<|vision_bos|>"],
            user_token_id=ids["<|im_start|>"],
        )
        classes = (tf.Qwen3OmniMoeConfig, tf.Qwen3OmniMoeForConditionalGeneration)
        thinker_cls, processor_cls = tf.Qwen3OmniMoeThinkerForConditionalGeneration, tf.Qwen3OmniMoeProcessor
    else:
        vision.update(fullatt_block_indexes=[0], window_size=112)
        thinker = tf.Qwen2_5OmniThinkerConfig(
            audio_config=audio,
            vision_config=vision,
            text_config=text,
            audio_token_index=ids["<|AUDIO|>"],
            image_token_index=ids["<|IMAGE|>"],
            video_token_index=ids["<|VIDEO|>"],
            audio_start_token_id=ids["<|audio_bos|>"],
            audio_end_token_id=ids["<|audio_eos|>"],
            vision_start_token_id=ids["<|vision_bos|>"],
            vision_end_token_id=ids["<|vision_eos|>"],
            user_token_id=ids["<|im_start|>"],
        )
        classes = (tf.Qwen2_5OmniConfig, tf.Qwen2_5OmniForConditionalGeneration)
        thinker_cls, processor_cls = tf.Qwen2_5OmniThinkerForConditionalGeneration, tf.Qwen2_5OmniProcessor

    torch.manual_seed(seed)
    if layout == "full":
        config_cls, model_cls = classes
        model = model_cls(config_cls(thinker_config=thinker.to_dict(), enable_audio_output=False))
    else:
        model = thinker_cls(thinker)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.eval().save_pretrained(out)
    if layout == "full" and not qwen3:
        torch.save({}, out / "spk_dict.pt")  # the full Qwen2.5-Omni loader reads its speaker table

    processor = processor_cls(
        image_processor=tf.Qwen2VLImageProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2),
        video_processor=tf.Qwen2VLVideoProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2),
        feature_extractor=tf.WhisperFeatureExtractor(feature_size=128),
        tokenizer=tok,
        chat_template=tok.chat_template,
    )
    processor.save_pretrained(out)


def build_tiny_checkpoint(family: str, out: Path, *, layout: str = "full", seed: int = 0) -> Path:
    """Build (or reuse) a tiny checkpoint of ``family`` at ``out``; safe to call from several processes."""
    if family not in TINY_FAMILIES:
        raise ValueError(f"unknown tiny family {family!r}; known: {', '.join(TINY_FAMILIES)}")
    if layout not in ("full", "thinker"):
        raise ValueError("layout must be 'full' or 'thinker'")
    out = Path(out)
    stamp = {"tiny_version": TINY_VERSION, "family": family, "layout": layout, "seed": seed}
    marker = out / "vsync_tiny.json"
    if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == stamp:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _build(family, tmp, layout, seed)
        (tmp / "vsync_tiny.json").write_text(json.dumps(stamp), encoding="utf-8")
        if out.exists():
            if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == stamp:
                return out  # another process finished first
            shutil.rmtree(out)
        try:
            os.replace(tmp, out)
        except OSError:
            if not (marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == stamp):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vsync_models.serve.tiny", description=__doc__.split("\n")[0]
    )
    parser.add_argument("family", choices=TINY_FAMILIES)
    parser.add_argument("out", type=Path)
    parser.add_argument("--layout", choices=("full", "thinker"), default="full")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build_tiny_checkpoint(args.family, args.out, layout=args.layout, seed=args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
