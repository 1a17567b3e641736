"""Level-1 ``who_said`` clips: cartoon characters take turns saying short sentences in ONE voice.

Why it isolates synchrony: every character speaks with the same synthetic voice, so audio alone
cannot tell who said a sentence; the picture shows whose mouth moves but not the words, so video
alone cannot either. Only matching *when* a sentence is heard to *when* a mouth moves answers it.

Everything random is drawn from one seeded :class:`_Rng` that uses only ``random.Random.random()``
(the one part of :mod:`random` whose output Python promises to keep across versions).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import av
import numpy as np

from vsync_models.synth.encode import encode_mp4
from vsync_models.synth.render import FPS, ROSTER, Character, mouth_openness, render_frames
from vsync_models.synth.tts import (
    DEFAULT_RATE_WPM,
    DEFAULT_VOICE,
    SAMPLE_RATE,
    Speech,
    engine_version,
    synthesize,
)

__all__ = [
    "GENERATOR_VERSION",
    "SENTENCES",
    "ClipPlan",
    "GenerationSummary",
    "Utterance",
    "generate",
    "plan_clips",
]

GENERATOR_VERSION = "1"
"""Bump whenever the same seed would produce different clips or items."""

SENTENCES: tuple[str, ...] = (
    "The kettle is whistling again.",
    "I left my umbrella on the bus.",
    "Seven green apples fell from the tree.",
    "Please close the window before lunch.",
    "My brother plays the trumpet badly.",
    "The library opens at nine tomorrow.",
    "We should paint the fence blue.",
    "That old clock runs ten minutes fast.",
    "The cat is sleeping on my scarf.",
    "I found a coin under the sofa.",
    "Our train leaves from platform four.",
    "The soup needs a little more salt.",
    "Somebody ate the last chocolate biscuit.",
    "The garden smells of fresh rain.",
    "I never learned to ride a bicycle.",
    "Turn left at the yellow house.",
    "The baby laughed at the puppet show.",
    "Bring a warm coat for the hike.",
    "My phone battery died this morning.",
    "The river froze during the night.",
    "He sold his guitar to buy a boat.",
    "The meeting moved to Thursday afternoon.",
    "Tiny birds are nesting in the chimney.",
    "I prefer tea without any sugar.",
    "The pizza arrived cold and late.",
    "She keeps her keys in a blue bowl.",
    "The museum has a giant whale skeleton.",
    "Let us count the stars tonight.",
    "The printer ran out of paper again.",
    "A fox crossed the road at dawn.",
    "My grandmother knits socks for everyone.",
    "The lemon cake is still warm.",
    "We missed the start of the film.",
    "Those boots are too small for me.",
    "The lighthouse blinks every ten seconds.",
    "I planted tomatoes beside the shed.",
    "The elevator is stuck between floors.",
    "Our neighbour owns three noisy geese.",
    "The violin lesson starts at four.",
    "Someone painted a dragon on the wall.",
)
"""Short, mutually distinct sentences (1.6–2.5 s each at the default voice and rate)."""

CAST_SIZE = 3
TURNS = 3
MIN_DURATION_S = 4.0
MAX_DURATION_S = 8.0
_LEAD_S = (0.25, 0.45)
_GAP_S = (0.25, 0.5)
_TAIL_S = 0.35
_TAIL_KEEP_S = 0.02  # speech kept after the last word's end, so the cut is inaudible

_T = TypeVar("_T")


class _Rng:
    """Seeded choices built only on ``random()``, whose sequence Python guarantees to keep."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def below(self, n: int) -> int:
        return min(int(self._random.random() * n), n - 1)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self._random.random()

    def shuffled(self, items: Sequence[_T]) -> list[_T]:
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out


@dataclass(frozen=True)
class Utterance:
    """One turn: who speaks, what, and from which sample of the clip on."""

    speaker: Character
    speech: Speech
    offset: int

    @property
    def start_s(self) -> float:
        return self.offset / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return (self.offset + len(self.speech.samples)) / SAMPLE_RATE


@dataclass(frozen=True)
class ClipPlan:
    """Everything needed to render one clip and to ask questions about it."""

    index: int
    cast: tuple[Character, ...]
    """Left to right on screen."""
    utterances: tuple[Utterance, ...]
    n_frames: int

    @property
    def video_path(self) -> str:
        return f"clip_{self.index:04d}.mp4"

    @property
    def n_samples(self) -> int:
        return self.n_frames * SAMPLE_RATE // FPS

    @property
    def duration_s(self) -> float:
        return self.n_frames / FPS

    def tracks(self) -> list[np.ndarray]:
        """One full-length int16 track per cast member holding only that character's speech."""
        tracks = [np.zeros(self.n_samples, np.int16) for _ in self.cast]
        for u in self.utterances:
            track = tracks[self.cast.index(u.speaker)]
            track[u.offset : u.offset + len(u.speech.samples)] = u.speech.samples
        return tracks

    def transcript(self) -> str:
        return " ".join(u.speech.text for u in self.utterances)


@dataclass(frozen=True)
class GenerationSummary:
    """What :func:`generate` wrote, for the command line to report."""

    out_dir: Path
    clips: int
    items: int
    total_bytes: int
    seconds: float


class _Voice:
    """Speech per sentence, synthesised once per run and trimmed of trailing silence."""

    def __init__(self, voice: str, rate_wpm: int) -> None:
        self._voice, self._rate = voice, rate_wpm
        self._cache: dict[str, Speech] = {}

    def __call__(self, text: str) -> Speech:
        if text not in self._cache:
            speech = synthesize(text, self._voice, self._rate)
            if not speech.words:
                raise RuntimeError(f"espeak-ng reported no words for {text!r}")
            keep = min(len(speech.samples), round((speech.words[-1].end_s + _TAIL_KEEP_S) * SAMPLE_RATE))
            self._cache[text] = Speech(text, speech.samples[:keep], speech.words, speech.sample_rate)
        return self._cache[text]


def plan_clips(
    seed: int,
    n_clips: int,
    voice: str = DEFAULT_VOICE,
    rate_wpm: int = DEFAULT_RATE_WPM,
) -> list[ClipPlan]:
    """Cast, script and time ``n_clips`` clips; sentences repeat only after the pool runs out."""
    rng = _Rng(seed)
    speak = _Voice(voice, rate_wpm)
    shortest = min(speak(s).duration_s for s in SENTENCES)
    deck: list[str] = []
    plans = []
    for index in range(1, n_clips + 1):
        cast = tuple(rng.shuffled(ROSTER)[:CAST_SIZE])
        n_speakers = 2 + rng.below(CAST_SIZE - 1)
        speakers = rng.shuffled(cast)[:n_speakers]
        order = speakers if n_speakers == TURNS else [speakers[0], speakers[1], speakers[0]]
        lead = rng.uniform(*_LEAD_S)
        gaps = [rng.uniform(*_GAP_S) for _ in range(TURNS - 1)]
        budget = MAX_DURATION_S - lead - sum(gaps) - _TAIL_S - 1 / FPS

        chosen: list[Speech] = []
        for turn in range(TURNS):
            if len(deck) < TURNS * 2:
                deck.extend(rng.shuffled([s for s in SENTENCES if s not in deck]))
            chosen.append(_draw(deck, chosen, speak, budget, shortest, TURNS - turn - 1))

        utterances = []
        t = lead
        for turn, (speaker, speech) in enumerate(zip(order, chosen, strict=True)):
            offset = round(t * SAMPLE_RATE)
            utterances.append(Utterance(speaker, speech, offset))
            t = (offset + len(speech.samples)) / SAMPLE_RATE + (gaps[turn] if turn < len(gaps) else _TAIL_S)
        n_frames = math.ceil(max(t, MIN_DURATION_S) * FPS - 1e-9)
        plans.append(ClipPlan(index, cast, tuple(utterances), n_frames))
    return plans


def _draw(
    deck: list[str], chosen: list[Speech], speak: _Voice, budget: float, shortest: float, left_after: int
) -> Speech:
    """Take the first sentence in the deck that still lets the remaining turns fit the clip budget.

    Should none fit, the shortest unused sentence is taken instead, so planning never fails.
    """
    taken = {s.text for s in chosen}
    used = sum(s.duration_s for s in chosen)
    for i, text in enumerate(deck):
        if text not in taken and used + speak(text).duration_s + left_after * shortest <= budget:
            return speak(deck.pop(i))
    text = min((s for s in SENTENCES if s not in taken), key=lambda s: (speak(s).duration_s, s))
    if text in deck:
        deck.remove(text)
    return speak(text)


def _items(plans: Sequence[ClipPlan], rng: _Rng, items_per_clip: int) -> list[dict[str, Any]]:
    """Two ``who_said`` questions per clip, about turns by different speakers.

    The correct letter is dealt from a shuffled, evenly filled deck of positions, so across the set
    each letter is right equally often (±1) and guessing a fixed letter earns chance level.
    """
    n_items = len(plans) * items_per_clip
    positions = rng.shuffled([i % CAST_SIZE for i in range(n_items)])
    items: list[dict[str, Any]] = []
    for plan in plans:
        picked: list[Utterance] = []
        for u in rng.shuffled(plan.utterances):
            if u.speaker not in {p.speaker for p in picked}:
                picked.append(u)
        if len(picked) < items_per_clip:
            raise ValueError(f"clip {plan.index} has only {len(picked)} speakers for {items_per_clip} items")
        for u in sorted(picked[:items_per_clip], key=lambda u: u.offset):
            others = rng.shuffled([c for c in plan.cast if c != u.speaker])
            at = positions[len(items)]
            order = [*others[:at], u.speaker, *others[at:]]
            letters = "ABCDEFGH"[: len(order)]
            items.append(
                {
                    "id": f"syn-{len(items) + 1:04d}",
                    "video_path": plan.video_path,
                    "question": f'Which character said "{u.speech.text.rstrip(".!?")}"?',
                    "options": [f"{letter}. {c.name}" for letter, c in zip(letters, order, strict=True)],
                    "correct_answer": letters[at],
                    "asr_content": plan.transcript(),
                    "task": "who_said",
                }
            )
    return items


def _render(plan: ClipPlan, path: Path) -> None:
    tracks = plan.tracks()
    openness = mouth_openness(tracks, SAMPLE_RATE, plan.n_frames)
    mix = np.sum([t.astype(np.int32) for t in tracks], axis=0)
    audio = np.clip(mix, -32768, 32767).astype(np.int16)
    encode_mp4(path, render_frames(plan.cast, openness), audio, fps=FPS, sample_rate=SAMPLE_RATE)


def _clip_record(plan: ClipPlan, path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {
        "video_path": plan.video_path,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "duration_s": plan.duration_s,
        "cast": [c.name for c in plan.cast],
        "utterances": [
            {
                "speaker": u.speaker.name,
                "text": u.speech.text,
                "start_s": round(u.start_s, 4),
                "end_s": round(u.end_s, 4),
                "words": [
                    [w.text, round(u.start_s + w.start_s, 4), round(u.start_s + w.end_s, 4)]
                    for w in u.speech.words
                ],
            }
            for u in plan.utterances
        ],
    }


def _write_json(path: Path, data: Any) -> bytes:
    raw = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    path.write_bytes(raw)
    return raw


def generate(out_dir: Path, seed: int = 0, n_clips: int = 8, items_per_clip: int = 2) -> GenerationSummary:
    """Write ``dataset.json``, ``videos/clip_*.mp4`` and ``manifest.json`` into ``out_dir``.

    ``dataset.json`` is in the original release's level-1 format; the manifest pins every clip by
    sha256 and keeps the ground truth (who said which word when) for later levels.
    """
    if n_clips < 1:
        raise ValueError("need at least one clip")
    if not 1 <= items_per_clip <= 2:
        raise ValueError("items_per_clip must be 1 or 2 (a clip has at most 2 distinct speakers for sure)")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    videos = out_dir / "videos"
    videos.mkdir(parents=True, exist_ok=True)

    plans = plan_clips(seed, n_clips)
    items = _items(plans, _Rng(seed + 1_000_003), items_per_clip)
    records = []
    for plan in plans:
        path = videos / plan.video_path
        _render(plan, path)
        records.append(_clip_record(plan, path))
    wanted = {p.video_path for p in plans}
    for stale in videos.glob("clip_*.mp4"):
        if stale.name not in wanted:
            stale.unlink()

    dataset = _write_json(out_dir / "dataset.json", items)
    manifest = {
        "generator": "vsync_models.synth.level1",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n_clips": n_clips,
        "n_items": len(items),
        "voice": DEFAULT_VOICE,
        "rate_wpm": DEFAULT_RATE_WPM,
        "espeak_ng": engine_version(),
        "av": av.__version__,
        "dataset_sha256": hashlib.sha256(dataset).hexdigest(),
        "clips": records,
    }
    raw = _write_json(out_dir / "manifest.json", manifest)
    total = len(dataset) + len(raw) + sum(r["bytes"] for r in records)
    return GenerationSummary(out_dir, len(plans), len(items), total, time.perf_counter() - started)
