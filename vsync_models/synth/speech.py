"""Every sentence spoken in exactly the same time, so how long a mouth moves names no sentence.

A video-only model knows roughly how long a quoted sentence takes to say and sees how long each
mouth moves; if durations differed it could match the two. So each sentence gets its own speaking
rate (the espeak-ng rate closest to :data:`UTTERANCE_S`), and the result is then stretched by
linear interpolation to exactly :data:`UTTERANCE_S` (a change of at most ~1 %, a pitch shift
nobody hears). All sentences also have eight syllables, so the number of mouth openings does not
name one either.
"""

from __future__ import annotations

import numpy as np

from vsync_models.synth.layout import FPS
from vsync_models.synth.tts import DEFAULT_VOICE, SAMPLE_RATE, Speech, Word, synthesize

__all__ = ["SENTENCES", "UTTERANCE_FRAMES", "UTTERANCE_S", "FittedVoice"]

UTTERANCE_FRAMES = 45
UTTERANCE_S = UTTERANCE_FRAMES / FPS
"""1.8 s: every utterance lasts exactly this long (a whole number of video frames)."""

_TAIL_KEEP_S = 0.02  # speech kept after the last word's end, so the cut is inaudible
_RATE_GUESS = 175
_RATE_LIMITS = (80, 400)

SENTENCES: tuple[str, ...] = (
    "The kettle is whistling again.",
    "We should paint the garden fence blue.",
    "The cat is sleeping on my scarf.",
    "I found a coin behind the couch.",
    "The soup needs a little more salt.",
    "Turn left at the big yellow house.",
    "The river froze during the night.",
    "The pizza arrived cold and late.",
    "The lemon cake is still quite warm.",
    "My phone battery died today.",
    "A red fox crossed the road at dawn.",
    "Those new boots are too small for me.",
    "I planted beans beside the shed.",
    "The lift is stuck between two floors.",
    "Our neighbour owns three noisy geese.",
    "My guitar lesson starts at four.",
    "Somebody ate my last biscuit.",
    "The printer has run out of ink.",
    "The library opens at nine.",
    "Bring a warm coat for the long hike.",
    "The baby laughed at the puppet.",
    "The museum has a huge whale.",
    "I like my tea without sugar.",
    "She keeps her keys in a blue bowl.",
    "He sold his bike to buy a boat.",
    "The meeting moved to Thursday noon.",
    "Tiny birds are nesting up there.",
    "Let us count all the stars tonight.",
    "My grandmother knits woolly socks.",
    "We missed the start of the new film.",
    "A lighthouse shines across the bay.",
    "The bus stop moved across the street.",
    "The garden smells of fresh spring rain.",
    "The clock on the wall is too fast.",
    "My brother plays the drums badly.",
    "Please close the window before lunch.",
    "Seven apples fell from the tree.",
    "I left my umbrella at home.",
    "The dog is chasing its own tail.",
    "The old kitchen tap keeps dripping.",
    "All the snow melted before noon.",
    "A big truck is blocking the road.",
    "She painted the old front door green.",
    "The bakery sells warm fresh bread.",
    "We all ate pancakes for breakfast.",
    "The wind blew my hat in the lake.",
    "The parrot can say hello now.",
    "My sister lost her new glasses.",
)
"""Forty-eight distinct eight-syllable sentences; none contains a double quote."""


class FittedVoice:
    """Sentences spoken in exactly ``frames`` video frames, synthesised once per process."""

    def __init__(self, frames: int = UTTERANCE_FRAMES, voice: str = DEFAULT_VOICE) -> None:
        self.n_samples = frames * SAMPLE_RATE // FPS
        self._voice = voice
        self._cache: dict[str, tuple[int, Speech]] = {}

    def __call__(self, text: str) -> Speech:
        return self._fit(text)[1]

    def rate(self, text: str) -> int:
        """The espeak-ng rate (words per minute) the sentence was spoken at before stretching."""
        return self._fit(text)[0]

    def _fit(self, text: str) -> tuple[int, Speech]:
        if text not in self._cache:
            target = self.n_samples / SAMPLE_RATE
            guess = _clamp(round(_RATE_GUESS * self._spoken(text, _RATE_GUESS)[1] / target))
            tried = {r: self._spoken(text, r) for r in {_clamp(guess + d) for d in (-1, 0, 1)}}
            rate = min(tried, key=lambda r: (abs(tried[r][1] - target), r))
            self._cache[text] = rate, _stretch(tried[rate][0], self.n_samples)
        return self._cache[text]

    def _spoken(self, text: str, rate: int) -> tuple[Speech, float]:
        speech = synthesize(text, self._voice, rate)
        if not speech.words:
            raise RuntimeError(f"espeak-ng reported no words for {text!r}")
        return speech, speech.words[-1].end_s + _TAIL_KEEP_S


def _clamp(rate: int) -> int:
    return min(max(rate, _RATE_LIMITS[0]), _RATE_LIMITS[1])


def _stretch(speech: Speech, n_samples: int) -> Speech:
    """Trim after the last word, then resample to exactly ``n_samples`` (timings scale along)."""
    keep = min(len(speech.samples), round((speech.words[-1].end_s + _TAIL_KEEP_S) * SAMPLE_RATE))
    x = speech.samples[:keep].astype(np.float64)
    positions = np.arange(n_samples) * ((keep - 1) / (n_samples - 1))
    samples = np.round(np.interp(positions, np.arange(keep), x)).astype(np.int16)
    scale = n_samples / keep
    words = tuple(
        Word(w.text, round(w.start_s * scale, 6), round(min(w.end_s * scale, n_samples / SAMPLE_RATE), 6))
        for w in speech.words
    )
    return Speech(speech.text, samples, words, speech.sample_rate)
