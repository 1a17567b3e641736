"""Information-restricted oracles for levels 2 and 3: one modality alone stays at chance.

Like the level-1 oracles (:mod:`.oracles`) they read only the generator's ground truth (an item
and its clip's manifest record), cut down to what one modality could perceive:

- **video**: where each character stands, every mouthing span and the sentence each mouth shapes
  (a perfect lip reader), and level 3's looks; never the sound, never which mouthing was heard;
- **audio**: the heard utterances (texts, exact start and end); never who said them;

for level 3 that includes what could tell a pause inside a turn from a turn's end: the pause so
far and the gaps before, the phrase count, length and words, whether the last phrase is a complete
sentence or a question or repeats one, how many mouths still move at the cut and how long all (and
the looker's) have been shut, who looked at the previous cuts;
- **late** (late fusion): frames at 1 fps plus the transcript, no sound (the OpenAI-compatible
  path in ``avt``): mouths and looks seen only at whole seconds (a look that starts and ends
  between two of them is not seen), no lip reading, the heard sentences in order without times.
  ``event_offset`` is scored directly: the quote's place in the transcript names its slot, the
  frames a second apart bound when that slot's mouths start and when the prop changes, and an
  estimate within the scoring tolerance (0.5 s) counts as right;
- **joint**: both; it must always be right, which checks the ground truth.

Every question reduces to picking one *candidate*: a slot for "when does X speak" (the best a
single modality can answer is a span it perceives: X's mouthing in that slot, or that slot's
utterance; the right slot's gives IoU 1 and exact onset, any other IoU 0 and an error over 2 s,
since slots never overlap), an option for "who speaks at t", yes or no for "speak now", an option
(a cut) for "at which of these moments should you speak" (each option with what its modality
perceives at that cut, as for "speak now", and where it stands: its letter, its cut, the cut left
out, which the options reveal). A
single-modality oracle is the best of a panel of strategies over features of the candidates
(fixed: pick the largest / smallest value; learned: the rate at which candidates with that value
were right in all *other* items of the task, leave-one-out), so any prior the generator leaks
would show. Ties between k candidates are credited 1/k.

``event_offset`` ("when does the lamp change relative to the start of the sentence '…'?") needs two
moments, and each modality lacks a different one, so each picks among candidates of its own: the
video sees the change and, in every slot, the mouth shaping the quoted text, so it picks the slot
the sentence is heard in (the right one gives the exact offset; the others are off by a slot, over
2 s); the audio places the sentence and picks the slot the change happens in (credited as right
whenever it picks the right slot, though the change could be anywhere within 1.4 s of it there: an
upper bound on what the sound alone can do).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from vsync_models.scoring.score import DEFAULT_TOLERANCE_S
from vsync_models.synth.items import LETTERS
from vsync_models.synth.oracles import OracleResult, _credit, _loo_scores, left_aligned

__all__ = [
    "CHANCE",
    "MODALITIES",
    "TimedCase",
    "evaluate_timed",
    "format_timed",
    "timed_cases",
]

MODALITIES = ("video", "audio", "late", "joint")
CHANCE = {
    "when_speaks": 0.25,
    "speech_onset": 0.25,
    "who_at_time": 0.25,
    "event_offset": 0.25,
    "speak_now": 0.5,
    "speak_when": 1 / 3,
}

Features = list[dict[str, Hashable]]
"""Per candidate, feature name → value."""


@dataclass(frozen=True)
class TimedCase:
    task: str
    answer: int
    """Index of the right candidate."""
    views: dict[str, Features] = field(default_factory=dict)
    """``"video"`` / ``"audio"``: what that modality perceives, per candidate."""
    joint: list[bool] = field(default_factory=list)
    """Per candidate, whether both views together say it is right."""
    answer_by: dict[str, int] = field(default_factory=dict)
    """Where a modality picks among candidates of its own (``event_offset``), its right one."""
    late_offsets: dict[str, float] = field(default_factory=dict)
    """``event_offset`` only: late fusion's estimate minus the true offset, per way of estimating."""

    def answer_for(self, modality: str) -> int:
        return self.answer_by.get(modality, self.answer)


def _rank(values: Sequence[float], x: float) -> int:
    return sorted(values).index(x)


def _slot_mouths(clip: Mapping[str, Any], slot: int) -> list[Mapping[str, Any]]:
    return [m for m in clip["mouthing"] if m["slot"] == slot]


def _mouth(clip: Mapping[str, Any], slot: int, name: str) -> Mapping[str, Any]:
    return next(m for m in _slot_mouths(clip, slot) if m["character"] == name)


def _heard(clip: Mapping[str, Any], slot: int) -> str:
    """The speaker of ``slot``: the mouth that starts with the utterance and shapes its text (joint)."""
    utt = clip["utterances"][slot]
    return next(
        m["character"]
        for m in _slot_mouths(clip, slot)
        if m["start_s"] == utt["start_s"] and m["text"] == utt["text"]
    )


def _video_slot_features(clip: Mapping[str, Any], slot: int, name: str) -> dict[str, Hashable]:
    mouths = _slot_mouths(clip, slot)
    onsets = [m["start_s"] for m in mouths]
    mine = _mouth(clip, slot, name)
    texts = [m["text"] for m in clip["mouthing"] if m["character"] == name]
    return {
        "slot": slot,
        "onset_rank": _rank(onsets, mine["start_s"]),
        "onset_offset": round(mine["start_s"] - min(onsets), 2),
        "mouthed_text_repeats": texts.count(mine["text"]),
    }


def _at_1fps(t: float) -> float:
    """The first whole second at or after ``t``: the first 1-fps frame that can show it."""
    return float(math.ceil(t - 1e-9))


def _transcript(clip: Mapping[str, Any]) -> list[str]:
    return [u["text"].rstrip(".!?") for u in sorted(clip["utterances"], key=lambda u: u["start_s"])]


def _late_slot_features(clip: Mapping[str, Any], slot: int, name: str) -> dict[str, Hashable]:
    """A slot as frames at 1 fps and the transcript show it: when each mouth is first seen moving
    (no text: one frame a second shows an open mouth, not what it says) and the slot's sentence."""
    onsets = [_at_1fps(m["start_s"]) for m in _slot_mouths(clip, slot)]
    mine = _at_1fps(_mouth(clip, slot, name)["start_s"])
    said = _transcript(clip)
    return {
        "slot": slot,
        "onset_rank_1fps": _rank(onsets, mine),
        "onset_offset_1fps": mine - min(onsets),
        "sentence_repeats": said.count(said[slot]),
        "sentence_words": len(said[slot].split()),
    }


def _audio_slot_features(clip: Mapping[str, Any], slot: int) -> dict[str, Hashable]:
    utts = clip["utterances"]
    texts = [u["text"] for u in utts]
    gap = utts[slot]["start_s"] - (utts[slot - 1]["end_s"] if slot else 0.0)
    return {"slot": slot, "text_count": texts.count(utts[slot]["text"]), "gap_before": round(gap, 2)}


def _positions(clip: Mapping[str, Any]) -> dict[str, int]:
    return {c["name"]: c["position"] for c in clip["cast"]}


def _case(item: Mapping[str, Any], clip: Mapping[str, Any]) -> TimedCase:
    task, truth = item["task"], item["truth"]
    if task in ("when_speaks", "speech_onset"):
        name = truth["speaker"]
        slots = range(len(clip["utterances"]))
        return TimedCase(
            task,
            truth["slot"],
            {
                "video": [_video_slot_features(clip, k, name) for k in slots],
                "audio": [_audio_slot_features(clip, k) for k in slots],
                "late": [_late_slot_features(clip, k, name) for k in slots],
            },
            [_heard(clip, k) == name for k in slots],
        )
    if task == "event_offset":
        return _offset_case(item, clip)
    if task == "who_at_time":
        slot = truth["slot"]
        names = [o[3:] for o in item["options"]]
        onsets = [m["start_s"] for m in _slot_mouths(clip, slot)]
        where = _positions(clip)
        video = [
            {
                "letter": i,
                "name": n,
                "position": where[n],
                "onset_rank": _rank(onsets, _mouth(clip, slot, n)["start_s"]),
            }
            for i, n in enumerate(names)
        ]
        audio: Features = [{"letter": i, "name": n} for i, n in enumerate(names)]
        seen = [_at_1fps(m["start_s"]) for m in _slot_mouths(clip, slot)]
        late: Features = [
            {
                "letter": i,
                "name": n,
                "position": where[n],
                "onset_rank_1fps": _rank(seen, _at_1fps(_mouth(clip, slot, n)["start_s"])),
            }
            for i, n in enumerate(names)
        ]
        return TimedCase(
            task,
            names.index(truth["speaker"]),
            {"video": video, "audio": audio, "late": late},
            [n == _heard(clip, slot) for n in names],
        )
    if task == "speak_now":
        slot = truth["slot"]
        yes = _heard(clip, slot) == clip["looks"][slot]["character"]
        # candidates: 0 = yes, 1 = no; a feature's key is (value, candidate) so "learned" learns P(yes | value)
        seen, heard, late = _cut_seen(clip, slot), _cut_heard(clip, slot), _cut_late(clip, slot)
        return TimedCase(
            task,
            0 if item["answer"] == "yes" else 1,
            {
                "video": [seen | {"says": c} for c in (0, 1)],
                "audio": [heard | {"says": c} for c in (0, 1)],
                "late": [late | {"says": c} for c in (0, 1)],
            },
            [yes, not yes],
        )
    if task == "speak_when":
        return _when_case(item, clip)
    raise ValueError(f"unknown level-2/3 task {task!r}")


def _cut_seen(clip: Mapping[str, Any], slot: int) -> dict[str, Hashable]:
    """What the picture shows at the cut after ``slot``: the looker and the mouths, never the voice."""
    look = clip["looks"][slot]
    cut = clip["cuts_s"][slot]
    onsets = [m["start_s"] for m in _slot_mouths(clip, slot)]
    looker = look["character"]
    earlier = [lk["character"] for lk in clip["looks"][:slot]]
    seen_mouths = [m for m in clip["mouthing"] if m["slot"] <= slot]
    look_end = _mouth(clip, slot, looker)["end_s"]
    return {
        "slot": slot,
        "looker_onset_rank": _rank(onsets, _mouth(clip, slot, looker)["start_s"]),
        "looker_position": _positions(clip)[looker],
        "looker_looked_before": looker in earlier,
        "looker_looked_last_cut": bool(earlier) and earlier[-1] == looker,
        "looker": looker,
        "mouths_moving_at_cut": sum(m["end_s"] > cut for m in seen_mouths),
        "quiet_before_cut": round(cut - max(m["end_s"] for m in seen_mouths), 2),
        "looker_mouth_end_rank": _rank([m["end_s"] for m in _slot_mouths(clip, slot)], look_end),
        "looker_quiet_before_cut": round(cut - look_end, 2),
        "always": 0,
    }


def _cut_late(clip: Mapping[str, Any], slot: int) -> dict[str, Hashable]:
    """Frames at 1 fps up to the cut after ``slot`` and the transcript so far: a look is seen only
    if a whole second falls in it before the cut; mouths only as moving or not at those seconds."""
    look = clip["looks"][slot]
    cut = clip["cuts_s"][slot]
    frames = [float(t) for t in range(math.floor(cut + 1e-9) + 1)]
    looked = any(look["start_s"] <= t < min(look["end_s"], cut + 1e-9) for t in frames)
    looker = look["character"] if looked else None
    last = frames[-1]
    seen_mouths = [m for m in clip["mouthing"] if m["slot"] <= slot]
    said = _transcript(clip)[: slot + 1]
    earlier = [lk["character"] for lk in clip["looks"][:slot]]
    return {
        "slot": slot,
        "looker": looker,
        "looker_position": None if looker is None else _positions(clip)[looker],
        "looker_looked_before": looker in earlier,
        "mouths_moving_at_last_frame": sum(m["start_s"] <= last < m["end_s"] for m in seen_mouths),
        "last_frame_before_cut": round(cut - last, 2),
        "sentences_so_far": len(said),
        "text": said[-1],
        "words": len(said[-1].split()),
        "repeats_earlier_sentence": said[-1] in said[:-1],
        "always": 0,
    }


def _cut_heard(clip: Mapping[str, Any], slot: int) -> dict[str, Hashable]:
    """What the sound tells at the cut after ``slot``: the phrases so far and the pause, never who."""
    cut = clip["cuts_s"][slot]
    utts = clip["utterances"][: slot + 1]
    last = utts[-1]
    return _audio_slot_features(clip, slot) | {
        "utterances_so_far": slot + 1,
        "pause_so_far": round(cut - last["end_s"], 2),
        "gaps_so_far": tuple(round(b["start_s"] - a["end_s"], 2) for a, b in itertools.pairwise(utts)),
        "phrase_length": round(last["end_s"] - last["start_s"], 2),
        "complete_sentence": last["text"].rstrip().endswith((".", "?", "!")),
        "question": last["text"].rstrip().endswith("?"),
        "text": last["text"],
        "words": len(last["text"].split()),
        "repeats_earlier_phrase": last["text"] in [u["text"] for u in utts[:-1]],
        "always": 0,
    }


def _when_case(item: Mapping[str, Any], clip: Mapping[str, Any]) -> TimedCase:
    """``speak_when``: the candidates are the options, each a cut named by its time (read from the
    option text, as a model would); both modalities see the options, so each also gets where the
    option stands (its letter, its cut, the cut left out) besides what it perceives at that cut."""
    cuts = clip["cuts_s"]
    times = [float(o[3:].removesuffix(" s")) for o in item["options"]]
    slots = [min(range(len(cuts)), key=lambda k, t=t: abs(cuts[k] - t)) for t in times]
    left_out = tuple(k for k in range(len(cuts)) if k not in slots)
    where = [
        {
            "letter": i,
            "from_left_out": k - left_out[0] if left_out else k,
            "cut_and_left_out": (k, left_out),
        }
        for i, k in enumerate(slots)
    ]
    return TimedCase(
        "speak_when",
        LETTERS.index(item["correct_answer"]),
        {
            "video": [_cut_seen(clip, k) | w for k, w in zip(slots, where, strict=True)],
            "audio": [_cut_heard(clip, k) | w for k, w in zip(slots, where, strict=True)],
            "late": [_cut_late(clip, k) | w for k, w in zip(slots, where, strict=True)],
        },
        [_heard(clip, k) == clip["looks"][k]["character"] for k in slots],
    )


def _offset_case(item: Mapping[str, Any], clip: Mapping[str, Any]) -> TimedCase:
    """Video candidates: the slot the quoted sentence is heard in; audio: the slot the prop changes in."""
    quoted = item["question"].split('"')[1]
    prop = item["truth"]["prop"]
    event = next(e for e in clip["events"] if e["kind"] == prop)
    utts = clip["utterances"]
    slots = range(len(utts))
    where = _positions(clip)
    video: Features = []
    for k in slots:
        mouths = _slot_mouths(clip, k)
        mine = next(m for m in mouths if m["text"].rstrip(".!?") == quoted)  # a perfect lip reader
        onsets = [m["start_s"] for m in mouths]
        video.append(
            {
                "slot": k,
                "onset_rank": _rank(onsets, mine["start_s"]),
                "onset_offset": round(mine["start_s"] - min(onsets), 2),
                "position": where[mine["character"]],
                "slots_from_event": k - event["slot"],
                "after_event": mine["start_s"] > event["time_s"],
            }
        )
    said = [u["text"].rstrip(".!?") == quoted for u in utts]
    at = said.index(True)  # the sound places the quoted sentence (the transcript's order)
    audio: Features = [
        _audio_slot_features(clip, j) | {"slots_from_sentence": j - at, "prop_slot": (prop, j)} for j in slots
    ]
    return TimedCase(
        "event_offset",
        item["truth"]["slot"],
        {"video": video, "audio": audio},
        said,
        {"audio": event["slot"]},
        _late_offset_errors(clip, quoted, event["time_s"], float(item["answer"])),
    )


def _late_offset_errors(
    clip: Mapping[str, Any], quoted: str, event_s: float, offset: float
) -> dict[str, float]:
    """Late fusion's estimates of the offset minus the true one: the quote's first place in the
    transcript is its slot; the change and that slot's first mouth movement are each first seen at
    a whole second, and happened in the second before it (taken at its end, or its middle)."""
    slot = _transcript(clip).index(quoted)
    event = _at_1fps(event_s)
    onset = min(_at_1fps(m["start_s"]) for m in _slot_mouths(clip, slot))
    return {
        "first frames showing each": (event - onset) - offset,
        "middles of the seconds before them": ((event - 0.5) - (onset - 0.5)) - offset,
        "change at the middle, speech at the frame": (event - 0.5 - onset) - offset,
        "change at the frame, speech at the middle": (event - (onset - 0.5)) - offset,
    }


def timed_cases(items: Sequence[Mapping[str, Any]], clips: Sequence[Mapping[str, Any]]) -> list[TimedCase]:
    """Cases from a set's ``dataset.json`` items and ``manifest.json`` clips (or planned ones)."""
    by_name = {c["video_path"]: c for c in clips}
    out = []
    for item in items:
        clip = by_name[item["group"] + ".mp4"] if "group" in item else by_name[item["video_path"]]
        out.append(_case(item, clip))
    return out


def _strategies(case: TimedCase, modality: str) -> list[str]:
    names = sorted({k for cand in case.views[modality] for k in cand if k != "says"})
    return names


def _score_strategy(group: Sequence[TimedCase], modality: str, feature: str, mode: str) -> float:
    group = [replace(c, answer=c.answer_for(modality)) for c in group]
    if mode == "learned":
        keys: list[list[Any]] = [
            [(c.get(feature), c.get("says")) for c in case.views[modality]] for case in group
        ]
        scores = _loo_scores(keys, group)  # type: ignore[arg-type]
    else:
        sign = 1.0 if mode == "max" else -1.0
        scores = []
        for case in group:
            values = [c.get(feature) for c in case.views[modality]]
            if not all(isinstance(v, int | float) for v in values):
                return 0.0
            says = [c.get("says", 0) for c in case.views[modality]]
            # yes/no: "max" of a number says yes when it is large; here a fixed threshold is not
            # meaningful, so fixed modes only rank candidates (slot / option tasks).
            if any(says):
                return 0.0
            scores.append([sign * float(v) for v in values])  # type: ignore[arg-type]
    return statistics.fmean(_credit(s, c.answer) for s, c in zip(scores, group, strict=True))


def evaluate_timed(cases: Sequence[TimedCase]) -> list[OracleResult]:
    """Per task x modality, the best strategy's accuracy (joint: the exact solver's)."""
    by_task: dict[str, list[TimedCase]] = {}
    for c in cases:
        by_task.setdefault(c.task, []).append(c)
    results = []
    for task in [t for t in CHANCE if t in by_task]:
        group = by_task[task]
        for modality in MODALITIES:
            if modality == "late" and task == "event_offset":
                accs = {
                    name: statistics.fmean(
                        abs(c.late_offsets[name]) <= DEFAULT_TOLERANCE_S + 1e-9 for c in group
                    )
                    for name in group[0].late_offsets
                }
                best = max(accs, key=lambda k: (accs[k], k))
                results.append(OracleResult(task, modality, len(group), accs[best], best, accs))
                continue
            if modality == "joint":
                acc = statistics.fmean(_credit([float(x) for x in c.joint], c.answer) for c in group)
                results.append(OracleResult(task, modality, len(group), acc, "exact", {"exact": acc}))
                continue
            accs = {
                f"{feature}:{mode}": _score_strategy(group, modality, feature, mode)
                for feature in _strategies(group[0], modality)
                for mode in ("max", "min", "learned")
            }
            best = max(accs, key=lambda k: (accs[k], k))
            results.append(OracleResult(task, modality, len(group), accs[best], best, accs))
    return results


def format_timed(results: Sequence[OracleResult]) -> str:
    rows = [("task", "n", "modality", "best accuracy", "chance", "best strategy")]
    rows += [
        (r.task, str(r.n), r.modality, f"{100 * r.accuracy:.1f}%", f"{100 * CHANCE[r.task]:.0f}%", r.strategy)
        for r in results
    ]
    return left_aligned(rows)
