"""Write a level-2 or level-3 set: plan (:mod:`.timed_plan`), write the questions, render, pin.

Level 2 (temporal grounding), three questions per clip:

- ``when_speaks`` (interval): "When is the voice of the green triangle heard?" → ``[start, end]``
  of its sentence;
- ``speech_onset`` (instant): "At what time does the green triangle start speaking?";
- ``who_at_time`` (choice): "Which character is speaking at 4.2 s?" over the four characters;
- ``event_offset`` (signed instant): "At what time does the lamp turn on relative to the start of
  the sentence "…"?" → the change's time minus the sentence's onset, negative when it comes first
  (``"signed": true``). These items follow all the others, so the ids of the first three tasks are
  those of a set generated without props.

Level 3 (when to speak): each clip is cut after each of its four phrases (a turn's end or a
pause inside a turn, :mod:`.timed_plan`); each prefix is its own
mp4 (``clip_0001_cut1.mp4``…) so a model cannot peek past the cut, and one ``speak_now``
yes/no item asks whether the assistant should speak now. The items of one clip share ``group``
(the clip) and carry ``cut_s``, from which the first-"yes" timing error is computed. After all of
those, one ``speak_when`` item per clip (choice): "At which of these moments should you start
speaking?" over three of its cut times in time order (:mod:`.timed_plan`), asked of the whole clip
(its last prefix, already rendered: no new mp4). It has ``group`` but no ``cut_s``: it is not a cut.

Deterministic from the seed like level 1 (:mod:`.level1`): same seed, same JSON, same pixels
and samples, and with the pinned ``av`` / ``espeakng-loader`` versions the same mp4 bytes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from vsync_models.synth.items import LETTERS, quote
from vsync_models.synth.layout import FPS
from vsync_models.synth.level1 import (
    GenerationSummary,
    encode_clip,
    file_record,
    item_counts,
    write_set,
)
from vsync_models.synth.plan import SAMPLES_PER_FRAME
from vsync_models.synth.render import mouth_openness, render_frames
from vsync_models.synth.rng import Balancer, Rng
from vsync_models.synth.speech import UTTERANCE_S, FittedVoice
from vsync_models.synth.timed_plan import CUT_DELAY_FRAMES, TimedPlan, plan_timed
from vsync_models.synth.truth import clip_truth
from vsync_models.synth.tts import DEFAULT_VOICE, SAMPLE_RATE

__all__ = ["GENERATOR_VERSION", "QUESTIONS", "build_timed_items", "generate_timed", "timed_truth"]

GENERATOR_VERSION = {2: "2", 3: "3"}
"""Per level; bump whenever the same seed would produce different clips or items of that level."""

_HANDOVER = (
    "A character hands the turn to you by looking straight at the camera (eyes wide open) right after "
    "finishing what they said; anyone else looking at you does not, and a speaker who only pauses "
    "between sentences without looking at you is going on."
)
"""Level 3's rule, the same in both of its questions."""
QUESTIONS = {
    "when_speaks": "When is the voice of {name} heard? Give the start and end time of its sentence.",
    "speech_onset": "At what time does {name} start speaking?",
    "who_at_time": "Which character is speaking at {t:.2f} s?",
    "event_offset": (
        'At what time does {event} relative to the start of the sentence "{quote}"? Answer with the '
        "signed offset in seconds: positive if {happens} after the sentence starts, negative if before."
    ),
    "speak_now": (
        "You are the assistant, watching this conversation through the camera; the clip stops now, "
        "at {t:.2f} s. " + _HANDOVER + " Should you start speaking now?"
    ),
    "speak_when": (
        "You are the assistant, watching this conversation through the camera. "
        + _HANDOVER
        + " At which of these moments should you start speaking?"
    ),
}
_ITEM_STREAM = 1_000_003
_EVENT_PHRASES = {
    "lamp": ("the lamp turn on", "the lamp turns on"),
    "sign": ("the sign change colour", "the sign changes colour"),
    "door": ("the door open", "the door opens"),
    "ball": ("the ball drop", "the ball drops"),
}
"""Per prop, how ``event_offset`` names its change: after "does", and as a clause."""


def _s(frame: int) -> float:
    return round(frame / FPS, 4)


def cut_path(plan: TimedPlan, k: int) -> str:
    return f"{plan.name}_cut{k + 1}.mp4"


def build_timed_items(plans: list[TimedPlan], seed: int) -> list[dict[str, Any]]:
    """Items in the level-2/3 format: the level-1 fields plus ``answer_type``, ``answer``,
    ``duration`` (and ``group``/``cut_s`` for level 3); ``truth`` holds what the oracles need."""
    items: list[dict[str, Any]] = []
    if not plans:
        return items
    level = plans[0].level
    rng = Rng(seed + _ITEM_STREAM + level)
    letters = Balancer(rng, LETTERS)
    entries = [entry for plan in plans for entry in _items_of(plan, rng, letters)]
    entries += [entry for plan in plans for entry in _offset_items(plan)]
    entries += [entry for plan in plans for entry in _when_items(plan)]
    for entry in entries:
        items.append({"id": f"l{level}-{len(items) + 1:04d}", **entry, "level": level, "seed": seed})
    return items


def _offset_items(plan: TimedPlan) -> list[dict[str, Any]]:
    """``event_offset``: per asked (sentence slot, prop), the prop's change minus the sentence's onset."""
    clip = plan.clip
    out = []
    for slot, prop in plan.offset_asks:
        heard = clip.slots[slot].heard
        event_slot, event = next((k, e) for k, e in enumerate(clip.events) if e.kind == prop)
        does, happens = _EVENT_PHRASES[prop]
        out.append(
            {
                "video_path": clip.video_path,
                "asr_content": clip.transcript(),
                "duration": _s(clip.n_frames),
                "question": QUESTIONS["event_offset"].format(
                    event=does, quote=quote(heard.sentence), happens=happens
                ),
                "answer_type": "instant",
                "signed": True,
                "answer": round((event.frame - heard.start_frame) / FPS, 4),
                "task": "event_offset",
                "truth": {
                    "slot": slot,
                    "speaker": heard.character.name,
                    "prop": prop,
                    "event_slot": event_slot,
                    "event_s": _s(event.frame),
                    "onset_s": _s(heard.start_frame),
                },
            }
        )
    return out


def _when_items(plan: TimedPlan) -> list[dict[str, Any]]:
    """``speak_when``: the offered cuts' times as options (time order), the offered yield right."""
    if plan.when_slot is None:
        return []
    last = len(plan.cuts) - 1
    right = plan.when_options.index(plan.when_slot)
    return [
        {
            "video_path": cut_path(plan, last),
            "question": QUESTIONS["speak_when"],
            "options": [f"{LETTERS[i]}. {plan.cuts[k] / FPS:.2f} s" for i, k in enumerate(plan.when_options)],
            "correct_answer": LETTERS[right],
            "answer_type": "choice",
            "duration": _s(plan.cuts[last]),
            "asr_content": plan.clip.transcript(),
            "task": "speak_when",
            "group": plan.name,
            "truth": {
                "slot": plan.when_slot,
                "slots": list(plan.when_options),
                "speaker": plan.speaker(plan.when_slot).name,
                "kinds": [plan.kinds[k] for k in plan.when_options],
            },
        }
    ]


def _items_of(plan: TimedPlan, rng: Rng, letters: Balancer[str]) -> list[dict[str, Any]]:
    clip = plan.clip
    if plan.level == 3:
        out = []
        for k, cut in enumerate(plan.cuts):
            heard = [s.heard.sentence for s in clip.slots[: k + 1]]
            out.append(
                {
                    "video_path": cut_path(plan, k),
                    "question": QUESTIONS["speak_now"].format(t=cut / FPS),
                    "answer_type": "yesno",
                    "answer": "yes" if plan.speak(k) else "no",
                    "duration": _s(cut),
                    "asr_content": " ".join(heard),
                    "task": "speak_now",
                    "group": plan.name,
                    "cut_s": _s(cut),
                    "truth": {
                        "slot": k,
                        "speaker": plan.speaker(k).name,
                        "looker": plan.looks[k][0].name,
                        "kind": plan.kinds[k],
                    },
                }
            )
        return out
    assert plan.asked_slots is not None and plan.probe_frame is not None
    common = {
        "video_path": clip.video_path,
        "asr_content": clip.transcript(),
        "duration": _s(clip.n_frames),
    }
    a, b, c = (plan.asked_slots[t] for t in ("when_speaks", "speech_onset", "who_at_time"))
    heard_a, heard_b, heard_c = (clip.slots[k].heard for k in (a, b, c))
    names = [ch.name for ch in clip.cast]
    answer = heard_c.character.name
    at = LETTERS.index(letters.pick())
    others = rng.shuffled(n for n in names if n != answer)
    options = [*others[:at], answer, *others[at:]]
    return [
        common
        | {
            "question": QUESTIONS["when_speaks"].format(name=heard_a.character.name),
            "answer_type": "interval",
            "answer": [_s(heard_a.start_frame), _s(heard_a.end_frame)],
            "task": "when_speaks",
            "truth": {"slot": a, "speaker": heard_a.character.name},
        },
        common
        | {
            "question": QUESTIONS["speech_onset"].format(name=heard_b.character.name),
            "answer_type": "instant",
            "answer": _s(heard_b.start_frame),
            "task": "speech_onset",
            "truth": {"slot": b, "speaker": heard_b.character.name},
        },
        common
        | {
            "question": QUESTIONS["who_at_time"].format(t=plan.probe_frame / FPS),
            "options": [f"{LETTERS[i]}. {text}" for i, text in enumerate(options)],
            "correct_answer": LETTERS[at],
            "answer_type": "choice",
            "task": "who_at_time",
            "truth": {"slot": c, "speaker": answer, "time_s": _s(plan.probe_frame)},
        },
    ]


def timed_truth(plan: TimedPlan, voice: FittedVoice | None = None) -> dict[str, Any]:
    """The clip's ground truth (as level 1's: level 2 has its props' events) plus, for level 3, the
    looks and cuts."""
    record = clip_truth(plan.clip, voice)
    if plan.level == 3:
        del record["events"]
        record["looks"] = [
            {"slot": k, "character": c.name, "start_s": _s(a), "end_s": _s(b)}
            for k, (c, a, b) in enumerate(plan.looks)
        ]
        record["cuts_s"] = [_s(f) for f in plan.cuts]
        record["speak"] = [plan.speak(k) for k in range(len(plan.cuts))]
        record["kinds"] = list(plan.kinds)
    return record


def _render(plan: TimedPlan, voice: FittedVoice, videos: Path) -> list[dict[str, Any]]:
    """Encode the clip (level 2) or its prefixes (level 3); return ``{video_path, sha256, bytes}``."""
    clip = plan.clip
    openness = mouth_openness(clip.mouth_tracks(voice), SAMPLE_RATE, clip.n_frames)
    frames = list(render_frames(clip.cast, openness, clip.events, plan.look_positions()))
    audio = clip.audio(voice)
    ends = list(plan.cuts) if plan.level == 3 else [clip.n_frames]
    files = []
    for k, end in enumerate(ends):
        name = cut_path(plan, k) if plan.level == 3 else clip.video_path
        path = videos / name
        encode_clip(path, frames[:end], audio[: end * SAMPLES_PER_FRAME])
        files.append({"video_path": name} | file_record(path))
    return files


def generate_timed(out_dir: Path, level: int, seed: int = 0, n_clips: int = 40) -> GenerationSummary:
    """Write ``dataset.json``, ``videos/`` and ``manifest.json`` of a level-2 or level-3 set."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    videos = out_dir / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    voice = FittedVoice()
    plans = plan_timed(seed, n_clips, level)
    items = build_timed_items(plans, seed)
    records = []
    wanted: set[str] = set()
    for plan in plans:
        files = _render(plan, voice, videos)
        wanted.update(f["video_path"] for f in files)
        records.append({"files": files} | timed_truth(plan, voice))
    head = {
        "generator": "vsync_models.synth.timed",
        "generator_version": GENERATOR_VERSION[level],
        "level": level,
        "seed": seed,
        "n_clips": n_clips,
        **item_counts(items),
        "voice": DEFAULT_VOICE,
        "utterance_s": UTTERANCE_S,
        "cut_delay_s": CUT_DELAY_FRAMES / FPS,
    }
    media = sum(f["bytes"] for r in records for f in r["files"])
    return write_set(out_dir, items, head, records, wanted, media, len(plans), started)
