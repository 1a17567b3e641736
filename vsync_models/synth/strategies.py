"""The panel of single-modality strategies: every statistic a clever model could exploit.

A feature gives one value per option; it is tried as "pick the highest", "pick the lowest" and/or
as a *learned* prior (leave-one-out over the other items of the task), see :mod:`.oracles`.
Features that need the lip reader's knowledge (which sentence a mouth shapes) are named
``lip-read: ...``; the joint oracle is not here: it answers exactly (:func:`.oracles.evaluate`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from vsync_models.synth.speaker_items import SPEAKER_TASK, asked_speaker
from vsync_models.synth.views import AudioView, Case, LateView, VideoView, bare, dur

__all__ = ["Strategy", "asked_event", "event_of", "panel"]

# --- features -----------------------------------------------------------------------------------
# A feature gives one value per option, tried up to three ways: pick the highest,
# pick the lowest, and as a learned prior (leave-one-out: how often options with that value were
# right in the other items of the task).

Feature = Callable[["Case", Any, str], Hashable]


@dataclass(frozen=True)
class _Feature:
    name: str
    tasks: frozenset[str]
    value: Feature
    modes: tuple[str, ...] = ("max", "min", "learned")
    """Integer-valued: all three. Continuous: max/min only (a prior over nearly unique values only
    adds noise). Categorical: learned only."""


@dataclass(frozen=True)
class Strategy:
    name: str
    tasks: frozenset[str]
    values: Callable[[Case], list[Any]]
    mode: str
    """``max``, ``min`` or ``learned``."""


_LEARNED = ("learned",)
_ORDER = ("max", "min")
_ALL = frozenset({"who_said", "said_when_event", "event_when_said", "in_sync", SPEAKER_TASK})
_CHARS = frozenset({"who_said", "in_sync"})
_WHO = frozenset({"who_said"})
_SWE = frozenset({"said_when_event"})
_EWS = frozenset({"event_when_said"})
_SPK = frozenset({SPEAKER_TASK})
_EVENT_OPTIONS = _EWS | _SPK
_QUOTING = frozenset({"who_said", "event_when_said"})


def named(c: Case) -> str:
    """The character an ``event_when_speaking`` question names."""
    return asked_speaker(str(c.item["question"])) or ""


def asked_event(c: Case) -> str:
    return str(c.item["question"]).removeprefix("What was being said when ").rstrip("?")


def _onset_offset(v: VideoView, who: str) -> float:
    return round(statistics.fmean(dur(v.in_slot(k)[0].start_s, v.mouth(who, k).start_s) for k in range(4)), 3)


def _event_centring(v: VideoView, who: str) -> float:
    centres = [(v.mouth(who, k).start_s + v.mouth(who, k).end_s) / 2 for k, _, _ in v.events]
    return round(statistics.fmean(abs(t - m) for (_, _, t), m in zip(v.events, centres, strict=True)), 3)


def _slot_mouthing(v: VideoView, who: str, text: str) -> int:
    return next(m.slot for m in v.mouthing if m.character == who and bare(m.text) == bare(text))


def _mouther(v: VideoView, text: str, slot: int) -> str:
    return next(m.character for m in v.in_slot(slot) if bare(m.text) == bare(text))


def event_of(v: VideoView, text: str) -> tuple[int, float]:
    return next((s, t) for s, e, t in v.events if e == text)


def _text_features() -> list[_Feature]:
    return [
        _Feature("letter", _ALL, lambda c, _, o: c.options.index(o)),
        _Feature("option text", _ALL, lambda c, _, o: o, modes=_LEARNED),
        _Feature("option length", _ALL, lambda c, _, o: len(o)),
        _Feature("option words", _ALL, lambda c, _, o: len(o.split())),
        _Feature("(question, option)", _ALL, lambda c, _, o: (c.item["question"], o), modes=_LEARNED),
    ]


def _video_features() -> list[_Feature]:
    f = _Feature
    chars = [
        f("screen position", _CHARS, lambda c, v, o: v.positions[o]),
        f("mean mouth-onset delay in its slot", _CHARS, lambda c, v, o: _onset_offset(v, o), modes=_ORDER),
        f(
            "slots where first to move",
            _CHARS,
            lambda c, v, o: sum(v.onset_rank(o, k) == 0 for k in range(4)),
        ),
        f("slots where last to move", _CHARS, lambda c, v, o: sum(v.onset_rank(o, k) == 3 for k in range(4))),
        *(
            f(f"onset rank in slot {k + 1}", _CHARS, lambda c, v, o, k=k: v.onset_rank(o, k))
            for k in range(4)
        ),
        f(
            "onset ranks in all slots",
            _CHARS,
            lambda c, v, o: tuple(v.onset_rank(o, k) for k in range(4)),
            _LEARNED,
        ),
        f(
            "total mouth motion (s)",
            _CHARS,
            lambda c, v, o: round(sum(dur(m.start_s, m.end_s) for m in v.mouthing if m.character == o), 3),
            modes=_ORDER,
        ),
        f("mouth span centred on the events", _CHARS, lambda c, v, o: _event_centring(v, o), modes=_ORDER),
        f(
            "lip-read: slot where it mouths the quote",
            _WHO,
            lambda c, v, o: _slot_mouthing(v, o, c.quote or ""),
        ),
        f(
            "lip-read: onset rank when mouthing the quote",
            _WHO,
            lambda c, v, o: v.onset_rank(o, _slot_mouthing(v, o, c.quote or "")),
        ),
    ]

    def at_event(c: Case, v: VideoView, o: str) -> tuple[str, int, float]:
        slot, time = event_of(v, asked_event(c))
        return _mouther(v, o, slot), slot, time

    def mouther_rank(c: Case, v: VideoView, o: str) -> int:
        who, slot, _ = at_event(c, v, o)
        return v.onset_rank(who, slot)

    def mouther_lag(c: Case, v: VideoView, o: str) -> float:
        who, slot, time = at_event(c, v, o)
        return dur(v.mouth(who, slot).start_s, time)

    sentences = [
        f("lip-read: onset rank of its mouther at the event", _SWE, mouther_rank),
        f(
            "lip-read: screen position of its mouther at the event",
            _SWE,
            lambda c, v, o: v.positions[at_event(c, v, o)[0]],
        ),
        f("lip-read: its mouther's onset-to-event time", _SWE, mouther_lag, modes=_ORDER),
        f(
            "lip-read: onset ranks of its mouthers in all slots",
            _SWE,
            lambda c, v, o: tuple(v.onset_rank(_mouther(v, o, k), k) for k in range(4)),
            _LEARNED,
        ),
        f(
            "mouth-motion time at the event vs sentence length",
            _SWE,
            lambda c, v, o: abs(dur(*_span(v, event_of(v, asked_event(c))[0])) - len(o) / 20),
            modes=_ORDER,
        ),
    ]

    def quote_mouther(c: Case, v: VideoView, o: str) -> tuple[str, int, float]:
        slot, time = event_of(v, o)
        return _mouther(v, c.quote or "", slot), slot, time

    def quote_rank(c: Case, v: VideoView, o: str) -> int:
        who, slot, _ = quote_mouther(c, v, o)
        return v.onset_rank(who, slot)

    def quote_lag(c: Case, v: VideoView, o: str) -> float:
        who, slot, time = quote_mouther(c, v, o)
        return dur(v.mouth(who, slot).start_s, time)

    events = [
        f("event slot", _EVENT_OPTIONS, lambda c, v, o: event_of(v, o)[0]),
        f("event time", _EVENT_OPTIONS, lambda c, v, o: event_of(v, o)[1], modes=_ORDER),
        f(
            "event distance from mid-clip",
            _EWS,
            lambda c, v, o: abs(dur(v.duration_s / 2, event_of(v, o)[1])),
            modes=_ORDER,
        ),
        f("(event kind, slot)", _EVENT_OPTIONS, lambda c, v, o: (o.split()[1], event_of(v, o)[0]), _LEARNED),
        f("lip-read: onset rank of the quote's mouther at the event", _EWS, quote_rank),
        f(
            "lip-read: screen position of the quote's mouther at the event",
            _EWS,
            lambda c, v, o: v.positions[quote_mouther(c, v, o)[0]],
        ),
        f("lip-read: the quote's mouther's onset-to-event time", _EWS, quote_lag, modes=_ORDER),
        f(
            "mouth-motion time at the event vs quote length",
            _EWS,
            lambda c, v, o: abs(dur(*_span(v, event_of(v, o)[0])) - len(c.quote or "") / 20),
            modes=_ORDER,
        ),
    ]

    def named_in_event_slot(c: Case, v: VideoView, o: str) -> Any:
        return v.mouth(named(c), event_of(v, o)[0])

    speakers = [
        f(
            "onset rank of the named character at the event",
            _SPK,
            lambda c, v, o: v.onset_rank(named(c), event_of(v, o)[0]),
        ),
        f(
            "the named character's onset-to-event time",
            _SPK,
            lambda c, v, o: dur(named_in_event_slot(c, v, o).start_s, event_of(v, o)[1]),
            modes=_ORDER,
        ),
        f(
            "the named character's mouth span centred on the event",
            _SPK,
            lambda c, v, o: abs(
                dur(
                    (named_in_event_slot(c, v, o).start_s + named_in_event_slot(c, v, o).end_s) / 2,
                    event_of(v, o)[1],
                )
            ),
            modes=_ORDER,
        ),
        f(
            "(screen position of the named character, event slot)",
            _SPK,
            lambda c, v, o: (v.positions[named(c)], event_of(v, o)[0]),
            _LEARNED,
        ),
        f("(named character, event slot)", _SPK, lambda c, v, o: (named(c), event_of(v, o)[0]), _LEARNED),
        f(
            "lip-read: length of what the named character mouths at the event",
            _SPK,
            lambda c, v, o: len(named_in_event_slot(c, v, o).text),
        ),
    ]
    return chars + sentences + events + speakers


def _span(v: VideoView, slot: int) -> tuple[float, float]:
    """When mouths move in a slot (first onset to last offset)."""
    ms = v.in_slot(slot)
    return ms[0].start_s, max(m.end_s for m in ms)


def _audio_features() -> list[_Feature]:
    f = _Feature

    def utterance(a: AudioView, text: str) -> tuple[int, str, float, float]:
        return a.utterances[a.slot_of(text)]

    def gap_before(a: AudioView, text: str) -> float:
        slot, _, start, _ = utterance(a, text)
        return dur(a.utterances[slot - 1][3] if slot else 0.0, start)

    return [
        f("(option, slot of the quote)", _QUOTING, lambda c, a, o: (o, a.slot_of(c.quote or "")), _LEARNED),
        f(
            "(letter, slot of the quote)",
            _QUOTING,
            lambda c, a, o: (c.options.index(o), a.slot_of(c.quote or "")),
            _LEARNED,
        ),
        f(
            "letter = slot of the quote",
            _QUOTING,
            lambda c, a, o: c.options.index(o) == a.slot_of(c.quote or ""),
        ),
        f(
            "(option, words in the quote)",
            _QUOTING,
            lambda c, a, o: (o, len((c.quote or "").split())),
            _LEARNED,
        ),
        f(
            "(option, silence before the quote)",
            _QUOTING,
            lambda c, a, o: (o, round(gap_before(a, c.quote or ""), 1)),
            _LEARNED,
        ),
        f("slot of the sentence", _SWE, lambda c, a, o: a.slot_of(o)),
        f("onset of the sentence", _SWE, lambda c, a, o: utterance(a, o)[2], modes=_ORDER),
        f(
            "sentence distance from mid-clip",
            _SWE,
            lambda c, a, o: abs(dur(a.duration_s / 2, utterance(a, o)[2])),
            modes=_ORDER,
        ),
        f(
            "duration of the sentence",
            _SWE,
            lambda c, a, o: dur(utterance(a, o)[2], utterance(a, o)[3]),
            modes=_ORDER,
        ),
        f("silence before the sentence", _SWE, lambda c, a, o: gap_before(a, o), modes=_ORDER),
        f(
            "(asked event, slot of the sentence)",
            _SWE,
            lambda c, a, o: (asked_event(c), a.slot_of(o)),
            _LEARNED,
        ),
        f(
            "(letter, slot of the sentence)",
            _SWE,
            lambda c, a, o: (c.options.index(o), a.slot_of(o)),
            _LEARNED,
        ),
        f(
            "(option, slot after the longest silence)",
            _SPK,
            lambda c, a, o: (
                o,
                max(range(len(a.utterances)), key=lambda k: gap_before(a, a.utterances[k][1])),
            ),
            _LEARNED,
        ),
        f(
            "(option, shortest silence rounded)",
            _SPK,
            lambda c, a, o: (o, min(round(gap_before(a, u[1]), 1) for u in a.utterances)),
            _LEARNED,
        ),
    ]


def _late_features() -> list[_Feature]:
    """Frames at 1 fps plus the transcript: every video feature that needs no lip reading, on the
    1-fps picture, and what the transcript's order adds (sentence *k* is the clip's *k*-th)."""
    f = _Feature
    seen = [
        f(f"1 fps: {feat.name}", feat.tasks, lambda c, lv, o, g=feat.value: g(c, lv.video, o), feat.modes)
        for feat in _video_features()
        if not feat.name.startswith("lip-read")
    ]

    def event_order(lv: LateView, text: str) -> int:
        return sorted(lv.video.events, key=lambda e: e[2]).index(
            next(e for e in lv.video.events if e[1] == text)
        )

    def quote_slot(c: Case, lv: LateView) -> int:
        return lv.index(c.quote or "")

    def frames_moving(lv: LateView, who: str, slot: int) -> int:
        m = lv.video.mouth(who, slot)
        return int(m.end_s - m.start_s)

    transcript = [
        f(
            "(option, transcript place of the quote)",
            _QUOTING,
            lambda c, lv, o: (o, quote_slot(c, lv)),
            _LEARNED,
        ),
        f("transcript place of the sentence", _SWE, lambda c, lv, o: lv.index(o)),
        f(
            "transcript place = order of the asked event",
            _SWE,
            lambda c, lv, o: lv.index(o) == event_order(lv, asked_event(c)),
        ),
        f(
            "transcript place = quarter of the clip the event is seen in",
            _SWE,
            lambda c, lv, o: lv.index(o) == lv.quarter(event_of(lv.video, asked_event(c))[1]),
        ),
        f(
            "(asked event, transcript place)",
            _SWE,
            lambda c, lv, o: (asked_event(c), lv.index(o)),
            _LEARNED,
        ),
        f(
            "order of its event = transcript place of the quote",
            _EWS,
            lambda c, lv, o: event_order(lv, o) == quote_slot(c, lv),
        ),
        f(
            "quarter its event is seen in = transcript place of the quote",
            _EWS,
            lambda c, lv, o: lv.quarter(event_of(lv.video, o)[1]) == quote_slot(c, lv),
        ),
        f(
            "(event kind, transcript place of the quote)",
            _EWS,
            lambda c, lv, o: (o.split()[1], quote_slot(c, lv)),
            _LEARNED,
        ),
        f(
            "frames its mouth moves in the quote's slot",
            _WHO,
            lambda c, lv, o: frames_moving(lv, o, quote_slot(c, lv)),
        ),
        f(
            "onset rank (1 fps) in the quote's slot",
            _WHO,
            lambda c, lv, o: lv.video.onset_rank(o, quote_slot(c, lv)),
        ),
        f(
            "onset (1 fps) in the quote's slot",
            _WHO,
            lambda c, lv, o: lv.video.mouth(o, quote_slot(c, lv)).start_s,
        ),
    ]
    speakers = [
        f(
            "(event kind, quarter its event is seen in)",
            _SPK,
            lambda c, lv, o: (o.split()[1], lv.quarter(event_of(lv.video, o)[1])),
            _LEARNED,
        ),
        f(
            "(named character, order of its event)",
            _SPK,
            lambda c, lv, o: (named(c), event_order(lv, o)),
            _LEARNED,
        ),
        f(
            "frames the named character's mouth moves in its event's slot",
            _SPK,
            lambda c, lv, o: frames_moving(lv, named(c), event_of(lv.video, o)[0]),
        ),
        f(
            "(transcript sentence in its event's order, words)",
            _SPK,
            lambda c, lv, o: len(lv.transcript[event_order(lv, o)].split()),
        ),
    ]
    return seen + transcript + speakers


def _strategies(features: Iterable[_Feature], view: Callable[[Case], Any]) -> list[Strategy]:
    out = []
    for feat in features:

        def values(c: Case, feat: _Feature = feat) -> list[Any]:
            v = view(c)
            return [feat.value(c, v, o) for o in c.options]

        modes = feat.modes
        names = {
            "max": f"highest {feat.name}",
            "min": f"lowest {feat.name}",
            "learned": f"learned {feat.name}",
        }
        out += [Strategy(names[m], feat.tasks, values, m) for m in modes]
    return out


def panel(modality: str) -> list[Strategy]:
    """Every strategy an information-restricted oracle may use (the text strategies are in every
    panel); ``late`` is frames at 1 fps plus the transcript (late fusion)."""
    text = _strategies(_text_features(), lambda c: None)
    if modality == "text":
        return text
    if modality == "video":
        return text + _strategies(_video_features(), lambda c: c.video)
    if modality == "audio":
        return text + _strategies(_audio_features(), lambda c: c.audio)
    if modality == "late":
        return text + _strategies(_late_features(), lambda c: c.late)
    raise ValueError(f"unknown modality {modality!r}")
