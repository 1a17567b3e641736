"""Reading and validating datasets in the original V-SYNC JSON format.

The original loader did no validation: a missing key crashed mid-run and a
wrong letter was silently scored wrong. Here every item is checked before any
test runs, and *all* problems are reported at once, each naming file, index
and id, so one edit fixes a dataset instead of one edit per run.

Cheap by design: validation stats files but never decodes or hashes media.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vsync_models.errors import DatasetError
from vsync_models.types import ANSWER_TYPES, Item

__all__ = [
    "COMPANION_DIR",
    "LEVEL_ANSWER_TYPES",
    "LIMIT_SEED",
    "Dataset",
    "asks_times",
    "companion_files",
    "load_dataset",
    "load_level1",
    "probe_duration",
    "resolve_dataset_paths",
    "task_name_problems",
]

LEVEL_ANSWER_TYPES: dict[int, tuple[str, ...]] = {
    1: ("choice",),
    2: ANSWER_TYPES,
    3: ANSWER_TYPES,
    4: ("choice",),
}
"""What each level's items may ask: levels 1 and 4 are the original V-SYNC format, multiple choice
only (level 4 asks level 1's "who said it?" in a form one frame a second answers); levels 2 and 3
also ask for times (intervals, instants) and yes/no. The keys are the levels."""

_OPTION_PREFIX = re.compile(r"^([A-Z])[.)]")
_TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIRED: dict[str, tuple[type, ...]] = {
    "id": (str, int),
    "video_path": (str,),
    "question": (str,),
    "options": (list,),
    "correct_answer": (str,),
}
_OPTIONAL: dict[str, tuple[type, ...]] = {"asr_content": (str, type(None)), "task": (str, type(None))}
_TIMED: dict[str, tuple[type, ...]] = {
    "answer_type": (str,),
    "duration": (int, float),
    "level": (int,),
    "signed": (bool,),
}
"""Level-2/3 fields (also accepted in level 1, where ``answer_type`` must be ``choice``)."""
_MAX_DEPTH = 16
"""How deeply an item may nest (objects and arrays inside the item, its options one level): far
more than any field needs, and little enough that nothing later (the cache key, the records, the
reports) can run out of stack on it."""
_MAX_DIGITS = 64
"""The longest integer a dataset may hold; a longer id is written as text."""
LIMIT_SEED = 0
"""The seed of :meth:`Dataset.limited` (``--limit``), stated in the header and the results files."""
_DURATION_SLACK_S = 0.05
"""A truth may end this far past the stated duration (frame rounding of the last frame)."""


@dataclass(frozen=True)
class Dataset:
    """A validated dataset: its items in file order, and where it came from."""

    items: tuple[Item, ...]
    path: Path
    video_dir: Path
    level: int = 1
    selected_from: int | None = None
    """When this is a ``--limit`` selection (:meth:`limited`): how many items the file holds."""
    companions: tuple[Path, ...] = ()
    """Companion sets loaded with it (``extra/*.json`` beside a ``dataset.json``), their items after
    its own; see :func:`companion_files`."""

    @property
    def files(self) -> tuple[Path, ...]:
        """Every JSON file its items came from: the dataset, then its companions."""
        return (self.path, *self.companions)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def tasks(self) -> list[str]:
        return sorted({it.task for it in self.items if it.task})

    def limited(self, n: int, seed: int = LIMIT_SEED) -> Dataset:
        """At most ``n`` items, spread over the tasks: a stratified, seeded choice, in file order.

        Each task gets an equal share (what a small task cannot fill goes to the others; the
        remainder goes to tasks in a seeded order); inside a task the items are a seeded sample.
        The same ``n`` and ``seed`` choose the same items in every process (xdist workers
        collect independently), and a larger ``n`` never drops an item a smaller one chose
        when every task can fill its share.
        """
        if n < 1:
            raise ValueError(f"--limit must be at least 1, got {n}")
        if n >= len(self.items):
            return self
        by_task: dict[str, list[Item]] = {}
        for item in self.items:
            by_task.setdefault(item.task or "", []).append(item)
        rng = random.Random(f"{seed}:{self.level}")
        order = sorted(by_task)
        rng.shuffle(order)  # which tasks get the remainder
        quota = dict.fromkeys(order, 0)
        left = n
        while left:
            open_tasks = [t for t in order if quota[t] < len(by_task[t])]
            share, extra = divmod(left, len(open_tasks))
            for i, task in enumerate(open_tasks):
                take = min(share + (i < extra), len(by_task[task]) - quota[task])
                quota[task] += take
                left -= take
        chosen: set[int] = set()  # positions in self.items: a companion set's indices restart at 0
        position = {id(item): i for i, item in enumerate(self.items)}
        for task, items in by_task.items():
            picks = random.Random(f"{seed}:{self.level}:{task}").sample(range(len(items)), len(items))
            chosen.update(position[id(items[i])] for i in picks[: quota[task]])
        kept = tuple(item for i, item in enumerate(self.items) if i in chosen)
        return replace(self, items=kept, selected_from=len(self.items))


def asks_times(level: int) -> bool:
    """Whether a level's items may ask for times: then every prompt of the level states the clip's
    length (``[CLIP]``), its choice items included, and its prompts default to answers in seconds."""
    return "interval" in LEVEL_ANSWER_TYPES[level] or "instant" in LEVEL_ANSWER_TYPES[level]


COMPANION_DIR = "extra"
"""A ``dataset.json``'s companion sets live in this directory beside it."""


def companion_files(json_path: Path) -> list[Path]:
    """The companion sets of a level directory's ``dataset.json``: ``extra/*.json`` beside it, in name
    order. They are datasets in the same format over the same video directory (items asked later
    over the same clips, which leave the original file byte-identical), loaded as part of it; a JSON
    file named anything but ``dataset.json`` has none."""
    if json_path.name != "dataset.json":
        return []
    return sorted((json_path.parent / COMPANION_DIR).glob("*.json"))


def resolve_dataset_paths(dataset: Path, video_dir: Path | None) -> tuple[Path, Path]:
    """``dataset`` may be the JSON file or a directory holding ``dataset.json`` and ``videos/``."""
    if dataset.is_dir():
        json_path = dataset / "dataset.json"
        default_videos = dataset / "videos"
    else:
        json_path = dataset
        default_videos = dataset.parent / "videos"
    return json_path, (video_dir if video_dir is not None else default_videos)


def _type_name(kinds: tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", list: "list", bool: "true or false", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    # bool is an int subclass; an id of ``true`` is a mistake, not an integer.
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


def _check_video_path(rel: str, video_root: Path) -> tuple[str | None, Path | None]:
    """Return (problem, resolved path); paths must stay inside the video directory, links included."""
    if not rel:
        return "video_path is empty", None
    if "\x00" in rel:
        return "video_path contains a NUL byte", None
    if os.path.isabs(rel) or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel):
        return f"video_path {rel!r} is absolute; it must be relative to the video directory", None
    if ".." in Path(rel).parts or ".." in rel.replace("\\", "/").split("/"):
        return f"video_path {rel!r} contains '..'; it must stay inside the video directory", None
    candidate = video_root / rel
    resolved = candidate.resolve()
    if not resolved.is_relative_to(video_root):
        return f"video_path {rel!r} leads outside the video directory (via a symlink)", None
    if not resolved.is_file():
        return f"video file not found: {candidate}", None
    return None, resolved


def _unencodable(raw: dict[str, Any], where: str) -> list[str]:
    """Text JSON allows but UTF-8 cannot hold (a lone surrogate such as ``"\\udcff"``): refused here,
    or it would break the cache, the results file and the reports of the whole run later."""
    problems = []
    for key in (*_REQUIRED, *_OPTIONAL):
        values = raw.get(key)
        for pos, value in enumerate(values if isinstance(values, list) else [values]):
            if not isinstance(value, str):
                continue
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                what = f"option {pos + 1}" if isinstance(values, list) else f"field '{key}'"
                problems.append(
                    f"{where}: {what} is not valid Unicode text ({exc.reason} at character {exc.start})"
                )
    return problems


def _check_entry(raw: Any, where: str, video_root: Path, level: int) -> tuple[list[str], Item | None]:
    if not isinstance(raw, dict):
        return [f"{where}: item must be an object, got {type(raw).__name__}"], None
    problems: list[str] = []
    answer_type = raw.get("answer_type", "choice")
    if answer_type not in ANSWER_TYPES:
        problems.append(f"{where}: answer_type {answer_type!r} must be one of {', '.join(ANSWER_TYPES)}")
        return problems, None
    choice = answer_type == "choice"
    required = dict(_REQUIRED)
    if not choice:
        del required["options"], required["correct_answer"]
    for key, kinds in required.items():
        if key not in raw:
            problems.append(f"{where}: missing field '{key}'")
        elif not _is(raw[key], kinds):
            problems.append(f"{where}: field '{key}' must be {_type_name(kinds)}, got {raw[key]!r}")
    for key, kinds in {**_OPTIONAL, **_TIMED}.items():
        if key in raw and not _is(raw[key], kinds):
            problems.append(f"{where}: field '{key}' must be {_type_name(kinds)}, got {raw[key]!r}")
    if not choice:
        for key, kinds in (("options", (list,)), ("correct_answer", (str,))):
            if key in raw and not _is(raw[key], kinds):
                problems.append(f"{where}: field '{key}' must be {_type_name(kinds)}, got {raw[key]!r}")
        if "answer" not in raw:
            problems.append(f"{where}: missing field 'answer' (needed for answer_type {answer_type!r})")
    if problems:
        return problems, None
    if raw.get("level", level) != level:
        problems.append(f"{where}: level {raw['level']} item in a level-{level} dataset")
    allowed = LEVEL_ANSWER_TYPES[level]
    if answer_type not in allowed:
        kinds = "multiple choice" if allowed == ("choice",) else "answer_type " + ", ".join(allowed)
        problems.append(f"{where}: level-{level} items are {kinds}, got answer_type {answer_type!r}")
    if "duration" in raw and raw["duration"] <= 0:
        problems.append(f"{where}: duration must be > 0 seconds, got {raw['duration']!r}")
    signed = raw.get("signed", False)
    if signed and answer_type != "instant":
        problems.append(f"{where}: 'signed' is only for answer_type 'instant', not {answer_type!r}")
    problems += _unencodable(raw, where)
    if problems:
        return problems, None

    options = raw.get("options") or []
    letters: list[str] = []
    if choice and len(options) < 2:
        problems.append(f"{where}: needs at least 2 options, got {len(options)}")
    for pos, opt in enumerate(options):
        expected = chr(ord("A") + pos)
        if not isinstance(opt, str):
            problems.append(f"{where}: option {pos + 1} must be a string, got {opt!r}")
            continue
        m = _OPTION_PREFIX.match(opt)
        if not m or m.group(1) != expected:
            problems.append(f"{where}: option {pos + 1} must start with '{expected}.', got {opt[:30]!r}")
        elif not opt[2:].strip():
            problems.append(f"{where}: option {expected} has no text")
        letters.append(expected)
    answer = raw.get("correct_answer", "")
    if choice and answer not in letters:
        problems.append(
            f"{where}: correct_answer {answer!r} is not one of the option letters {', '.join(letters)}"
        )
    if not choice and options:
        problems.append(f"{where}: options are only for answer_type 'choice', not {answer_type!r}")
    task = raw.get("task")
    if task is not None and not _TASK_NAME.match(task):
        problems.append(f"{where}: task {task!r} must be lower_snake_case (it becomes a pytest marker)")
    if not raw["question"].strip():
        problems.append(f"{where}: question is empty")

    path_problem, video_file = _check_video_path(raw["video_path"], video_root)
    if path_problem:
        problems.append(f"{where}: {path_problem}")
    duration = float(raw["duration"]) if "duration" in raw else None
    truth = None
    if not choice and video_file is not None and not problems:
        if duration is None:
            duration, probe_problem = probe_duration(video_file)
            if probe_problem:
                problems.append(f"{where}: {probe_problem}")
        if duration is not None:
            truth, truth_problem = _check_truth(answer_type, raw["answer"], duration, signed)
            if truth_problem:
                problems.append(f"{where}: {truth_problem}")
    if problems or video_file is None:
        return problems, None
    known = (
        set(_REQUIRED) | set(_OPTIONAL) | {"answer_type", "answer", "duration", "signed"}
    )  # "level" stays in extra
    return [], Item(
        id=raw["id"],
        video_path=raw["video_path"],
        question=raw["question"],
        options=tuple(options),
        correct_answer=answer if choice else _truth_text(answer_type, truth, signed),
        video_file=video_file,
        asr_content=raw.get("asr_content") or "",
        task=task,
        level=level,
        extra={k: v for k, v in raw.items() if k not in known},
        answer_type=answer_type,
        answer=truth,
        duration=duration,
        signed=signed,
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _check_truth(
    answer_type: str, value: Any, duration: float, signed: bool = False
) -> tuple[Any, str | None]:
    """The typed truth of a non-choice item, or why it is not one (times inside ``[0, duration]``; a
    signed instant, the offset between two moments of the clip, inside ``[-duration, duration]``)."""
    limit = duration + _DURATION_SLACK_S
    if answer_type == "interval":
        if not (isinstance(value, list) and len(value) == 2 and all(_number(v) for v in value)):
            return None, f"answer must be [start, end] in seconds, got {value!r}"
        start, end = float(value[0]), float(value[1])
        if not start < end:
            return None, f"answer interval must have start < end, got [{start:g}, {end:g}]"
        if start < 0 or end > limit:
            return None, f"answer [{start:g}, {end:g}] is outside the clip (0-{duration:g} s)"
        return (start, end), None
    if answer_type == "instant":
        if not _number(value):
            return None, f"answer must be a time in seconds, got {value!r}"
        if signed and not -limit <= float(value) <= limit:
            return None, f"signed answer {value:g} s is longer than the clip ({duration:g} s)"
        if not signed and not 0 <= float(value) <= limit:
            return None, f"answer {value:g} s is outside the clip (0-{duration:g} s)"
        return float(value), None
    if isinstance(value, bool):
        return ("yes" if value else "no"), None
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return value.strip().lower(), None
    return None, f"answer must be 'yes' or 'no', got {value!r}"


def _truth_text(answer_type: str, truth: Any, signed: bool = False) -> str:
    """The truth as the results file's ``correct_answer`` text."""
    if answer_type == "interval":
        return f"{truth[0]:g}-{truth[1]:g} s"
    if answer_type == "instant":
        return f"{truth:+g} s" if signed else f"{truth:g} s"
    return str(truth)


def probe_duration(path: Path) -> tuple[float | None, str | None]:
    """The clip's length from its container header (no decoding), for datasets without ``duration``."""
    import av

    try:
        with av.open(str(path)) as container:
            if container.duration is not None:
                return container.duration / 1_000_000, None
            stream = container.streams.video[0] if container.streams.video else container.streams[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base), None
    except (av.FFmpegError, OSError, IndexError) as exc:
        return None, f"cannot read the duration of {path.name}: {exc}"
    return None, f"cannot read the duration of {path.name}; add a 'duration' field"


def _parse_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError([f"{path}: dataset file not found"]) from None
    except UnicodeDecodeError as exc:
        raise DatasetError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise DatasetError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    try:
        return json.loads(text, parse_int=_read_int)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            [f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        ) from None
    except RecursionError:
        raise DatasetError(
            [f"{path}: JSON nested too deeply to read (an item may nest at most {_MAX_DEPTH} levels)"]
        ) from None
    except _LongNumber as exc:
        raise DatasetError([_long_number_problem(path, text, exc.digits)]) from None


class _LongNumber(ValueError):
    def __init__(self, digits: str) -> None:
        super().__init__(digits)
        self.digits = digits


def _read_int(digits: str) -> int:
    if len(digits.lstrip("-")) > _MAX_DIGITS:
        raise _LongNumber(digits)
    return int(digits)


def _long_number_problem(path: Path, text: str, digits: str) -> str:
    """Where an over-long integer stands, under which key, and what to do."""
    found = re.search(rf'(?<![\d."]){re.escape(digits)}(?![\d."])', text)
    where = ""
    if found is not None:
        start = found.start()
        line = text.count("\n", 0, start) + 1
        where = f" at line {line}, column {start - text.rfind(chr(10), 0, start)}"
        key = re.search(r'"([^"\\]{1,100})"\s*:\s*$', text[max(0, start - 200) : start])
        if key is not None:
            where = f" field '{key.group(1)}'{where}"
    shown = f"{digits[:20]}…" if len(digits) > 20 else digits
    return (
        f"{path}:{where}: the number {shown} has {len(digits.lstrip('-'))} digits (at most {_MAX_DIGITS}); "
        "write a long id as text"
    )


def _too_deep(raw: Any) -> str | None:
    """The first field of an item that nests deeper than :data:`_MAX_DEPTH`, or ``None``."""
    if not isinstance(raw, dict):
        return None
    for key, value in raw.items():
        stack = [(value, 2)]
        while stack:
            node, depth = stack.pop()
            if depth > _MAX_DEPTH:
                return str(key)
            children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
            stack.extend((child, depth + 1) for child in children)
    return None


def _declared_level(data: list[Any], json_path: Path) -> int:
    """The one level a dataset's items declare in their ``level`` field; 1 when none does."""
    found = sorted({raw["level"] for raw in data if isinstance(raw, dict) and _is(raw.get("level"), (int,))})
    if len(found) > 1:
        levels = ", ".join(map(str, found))
        raise DatasetError([f"{json_path}: items of levels {levels} in one dataset; a dataset is one level"])
    return found[0] if found else 1


def load_level1(path: Path, video_dir: Path | None = None) -> Dataset:
    """Load and validate a level-1 dataset; raise :class:`DatasetError` listing every problem."""
    return load_dataset(path, video_dir, level=1)


def load_dataset(path: Path, video_dir: Path | None = None, level: int | None = 1) -> Dataset:
    """Load and validate a dataset of ``level``; raise :class:`DatasetError` listing every problem.

    ``level=None``: the level the file's items declare (their ``level`` field), else 1.
    Level-2/3 items add ``answer_type`` and ``answer`` (see :func:`_check_truth`); their
    times are checked against ``duration``, or against the clip's header when it is absent.
    """
    json_path, videos = resolve_dataset_paths(Path(path), Path(video_dir) if video_dir else None)
    main = _load_one(json_path, videos, level)
    companions = companion_files(json_path)
    if not companions:
        return main
    parts = [main, *(_load_one(c, videos, main.level) for c in companions)]
    problems = []
    first: dict[str, Path] = {}
    for part in parts:
        for item in part.items:
            key = str(item.id)
            if key in first:
                problems.append(f"{part.path} item {item.index} (id={item.id!r}): duplicate id, first used in {first[key]}")
            first.setdefault(key, part.path)
    if problems:
        raise DatasetError(problems)
    items = tuple(it for part in parts for it in part.items)
    return replace(main, items=items, companions=tuple(companions))


def _load_one(json_path: Path, videos: Path, level: int | None) -> Dataset:
    data = _parse_json(json_path)
    if not isinstance(data, list):
        raise DatasetError(
            [f"{json_path}: top level must be a JSON array of items, got {type(data).__name__}"]
        )
    from_file = level is None
    if level is None:
        level = _declared_level(data, json_path)
    if level not in LEVEL_ANSWER_TYPES:
        known = ", ".join(map(str, LEVEL_ANSWER_TYPES))
        raise DatasetError([f"{json_path}: level {level} is not a V-SYNC level ({known})"])
    if not videos.is_dir():
        raise DatasetError([f"{json_path}: video directory not found: {videos}"])
    video_root = videos.resolve()

    problems: list[str] = []
    items: list[Item] = []
    first_seen: dict[str, int] = {}
    for index, raw in enumerate(data):
        ident = raw.get("id", "?") if isinstance(raw, dict) else "?"
        ident = ident if isinstance(ident, str | int) else "?"  # a nested id is reported as a field
        where = f"{json_path} item {index} (id={ident!r})"
        deep = _too_deep(raw)
        if deep is not None:
            problems.append(f"{where}: field '{deep}' nests deeper than {_MAX_DEPTH} levels")
            continue
        found, item = _check_entry(raw, where, video_root, level)
        problems.extend(found)
        if isinstance(raw, dict) and _is(raw.get("id"), (str, int)):
            key = str(raw["id"])
            if key in first_seen:
                problems.append(f"{where}: duplicate id, first used by item {first_seen[key]}")
            else:
                first_seen[key] = index
        if item is not None:
            items.append(replace(item, source=str(json_path), index=index))
    entries = [raw for raw in data if isinstance(raw, dict)]
    if (
        problems
        and from_file
        and not any("level" in raw for raw in entries)
        and any(raw.get("answer_type", "choice") != "choice" for raw in entries)
    ):
        problems.append(
            f"{json_path}: no item has a 'level' field, so the dataset was read as level {level}; "
            'add "level": 2 or 3 to its items to run it as that level'
        )
    if problems:
        raise DatasetError(problems)
    if not items:
        raise DatasetError([f"{json_path}: dataset has no items"])
    return Dataset(items=tuple(items), path=json_path, video_dir=video_root, level=level)


MARK_EXPRESSION_WORDS = frozenset({"and", "or", "not"})
"""The words of pytest's ``-m`` expressions: a task named so could not be selected."""


def task_name_problems(datasets: Iterable[Dataset], obeyed: Iterable[str]) -> list[str]:
    """One line per task that cannot be a pytest marker: a name some plugin already obeys
    (``obeyed``: ``skip``, ``xfail``, ``usefixtures``, ``vt``, ``level2``, …; it would skip or xfail
    items, abort collection or widen ``-m``) or a word of ``-m`` expressions."""
    reserved = set(obeyed)
    problems = []
    for dataset in datasets:
        for task in dataset.tasks:
            if task not in reserved and task not in MARK_EXPRESSION_WORDS:
                continue
            ids = [str(it.id) for it in dataset if it.task == task]
            shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            what = "a word of -m expressions" if task in MARK_EXPRESSION_WORDS else "a marker pytest or a plugin obeys"
            problems.append(f"{dataset.path}: task {task!r} (items {shown}) is {what}; rename the task")
    return problems
