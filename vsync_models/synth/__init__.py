"""V-SYNC-Synth: generated clips where only binding *when* something is heard to *what/who* is
seen answers the question, with exact ground truth and oracles that prove it.

Run ``python -m vsync_models.synth generate --seed 0 --clips 80 --out data/level_1`` to build the
shipped set, ``python -m vsync_models.synth oracles data/level_1`` to check it, and
``python -m vsync_models.synth strip data/level_1 clip_0001.mp4 --out strip.png`` to look at a clip.

What a clip is (:mod:`.plan`)
    10.4-11.3 s, 25 fps, 320x240, mono AAC at 22.05 kHz. Four *slots* of speech; each slot
    plays one sentence (always exactly 1.8 s, eight syllables, one eSpeak NG voice for everybody)
    while **all four characters move their mouths**, each to a different sentence of the clip,
    onsets staggered by >= 3 frames (0.12 s); only the speaker's mouth matches the sound. Between
    slots every mouth is shut for 0.24-0.4 s. One prop event per slot, at a moment when all four
    mouths move. ``in_sync`` clips have one speaker throughout; ``turns`` clips pass the voice
    between characters.

Screen layout (:mod:`.layout`; pixels, origin top left, boxes ``x0, y0, x1, y1`` half-open)
    Background beige (236, 228, 210); ink (35, 25, 25). A 2-px ink shelf line at y = 98..99
    splits a **prop strip** (y < 98) from the **characters** (below).

    Characters: always these four, left-to-right order shuffled per clip, centres at x = 40, 120,
    200, 280 and y = 170 (position 0..3), radius 30 px, ink outline, two white eyes at y = 164.
    ``the red circle`` (214, 48, 49), ``the blue square`` (41, 98, 205), ``the green triangle``
    (46, 150, 70, apex up), ``the orange diamond`` (240, 140, 20). The **mouth** is an ink ellipse
    centred 12 px below the character centre (y = 182), half-width 10 px, half-height from 1
    (closed: a 3-px line) to 9 px, opening with the loudness (per-frame RMS, clip-normalised,
    power 0.7) of the speech that character mouths. Its box is
    :func:`.layout.mouth_box` (e.g. position 0: ``(29, 172, 52, 193)``); nothing else dark is
    drawn there, so counting pixels whose channels are all <= 90 measures the opening
    (:func:`.measure.mouth_darkness`).

    Props, one quarter of the strip each (:data:`.layout.PROP_BOXES`), each changing once and
    staying changed; the event's frame is the first changed frame:

    - **lamp**, box ``(0, 0, 80, 98)``: bulb at (40, 34), r = 13, grey (150, 150, 150) on a pole;
      *"the lamp turned on"*: the bulb turns yellow (255, 222, 40) with a pale halo ring.
    - **sign**, box ``(80, 0, 160, 98)``: board (92..148, 14..58) on a post, white (246, 246, 246);
      *"the sign turned purple | pink | teal"*: the board fills with (130, 60, 180) | (240, 120, 180)
      | (0, 150, 150).
    - **door**, box ``(160, 0, 240, 98)``: frame (178..222, 16..98), brown panel (150, 95, 45)
      with a yellow knob; *"the door opened"*: the doorway goes dark (40, 36, 56) with a thin
      panel left at the hinge.
    - **ball**, box ``(240, 0, 320, 98)``: magenta ball (190, 40, 160), r = 10, hanging on a
      string at (280, 24); *"the ball dropped"*: the string vanishes and the ball falls for 8
      frames to rest on the shelf line (centre y = 87).

    :func:`.measure.prop_change_frames` finds each event frame from frame differences.

Questions (:mod:`.items`), four options each, all from the same clip, letters balanced A-D
    ``who_said``, ``said_when_event``, ``event_when_said``, ``in_sync``; see
    :data:`.items.QUESTIONS`. ``event_when_speaking`` (:mod:`.speaker_items`) asks
    ``event_when_said`` about a speaker instead of a quote, so frames plus the transcript cannot
    answer it; it goes to ``extra/event_when_speaking.json``, a companion set over the same clips. Ground truth: each item's ``truth`` field, and per clip the
    manifest's record (:mod:`.truth`): layout, utterances with word timings, every mouthing
    span with the sentence mouthed and whether it was heard, events with frame and time.

Why one modality cannot answer, checked by :mod:`.oracles`
    The voice is the same for everyone (audio cannot say who); every character mouths every clip
    sentence once, four mouths move in every slot, and the sentence heard in a slot is uniform
    over the ones mouthed there (video cannot say which mouthing was heard, even reading lips);
    utterances all last 1.8 s (no duration matching); asked slots, answer identities, answer
    positions on screen and answer letters are dealt evenly (:class:`.rng.Balancer`).

Levels 2 and 3 (:mod:`.timed_plan`, :mod:`.timed`, :mod:`.timed_oracles`)
    The same clips (no props), but the speaker of each slot is drawn independently of the mouthing
    square and of the mouth onsets, so the picture is the same whoever speaks. Level 2 asks *when*
    a named character speaks (interval, instant) and *who* speaks at a given time (choice); level 3
    cuts each clip after every slot (one mp4 per prefix) and asks whether the assistant should
    speak now: yes exactly when the character who just spoke looks at the camera (eyes wide,
    :func:`.layout.eye_box`, :func:`.measure.eye_changes`). ``--level 2|3`` on ``generate``;
    ``oracles`` reads the level from the manifest.

Level 4 (:mod:`.paused`, :mod:`.paused_oracles`)
    Level 1's "who said it?" answerable one frame a second: one 3-s sentence per clip, mouthed by
    all four characters over the same four seconds, each mouth shut for a different one of them;
    the voice is silent for the speaker's shut second. ``--level 4`` on ``generate``.

Modules: :mod:`.tts` speech + word timings, :mod:`.speech` exact-length sentences,
:mod:`.plan` timelines, :mod:`.items` questions (:mod:`.speaker_items` the speaker variant), :mod:`.truth` ground-truth records,
:mod:`.render` + :mod:`.props` drawing, :mod:`.encode` byte-stable mp4, :mod:`.level1` the set
writer, :mod:`.oracles` the insolubility proof (with :mod:`.views`, what each modality perceives,
and :mod:`.strategies`, what a clever single-modality model could exploit), :mod:`.measure`
reading clips back from pixels and samples, :mod:`.strip` a labelled frame strip, :mod:`.rng`
seeded choices and balanced dealing.
"""

from __future__ import annotations

__all__ = ["GENERATOR_VERSION", "generate"]

from vsync_models.synth.level1 import GENERATOR_VERSION, generate
