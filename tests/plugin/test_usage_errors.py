"""Bad input that used to crash (INTERNALERROR, or a KeyError after every item ran) is a usage error:
exit 4 before any item runs, one message naming the file, the key and the value."""

from __future__ import annotations

import json

import pytest

from tests.support import choice_items, last_run, write_dataset


def config(text: bytes):  # type: ignore[no-untyped-def]
    def write(bench: pytest.Pytester) -> None:
        (bench.path / "config").mkdir(exist_ok=True)
        (bench.path / "config" / "config.yaml").write_bytes(text)

    return write


def dataset(text: str):  # type: ignore[no-untyped-def]
    def write(bench: pytest.Pytester) -> None:
        (bench.path / "data" / "level_1" / "dataset.json").write_text(text, encoding="utf-8")

    return write


ITEMS = choice_items(2)
LONG_ID = json.dumps(ITEMS).replace('"q000"', "7" * 5000)
DEEP = json.dumps(ITEMS)[:-1] + ", " + "[" * 100_000 + "]" * 100_000 + "]"
NESTED_FIELD = json.dumps([{**ITEMS[0], "notes": json.loads("[" * 40 + "]" * 40)}, ITEMS[1]])

CASES = {
    "output_pattern": (
        config(b"benchmark:\n  level1: {output_pattern: '{nope}'}\n"),
        ["config.yaml benchmark.level1: 'output_pattern' '{nope}'", "only {model} and {level}"],
    ),
    "retry_base_sec nan": (
        config(b"runtime: {retry_base_sec: .nan}\n"),
        ["config.yaml runtime: 'retry_base_sec' must be a finite number, got nan"],
    ),
    "timeout_s inf": (
        config(b"models:\n  constant: {timeout_s: .inf}\n"),
        ["config.yaml: models.constant.timeout_s: must be a finite number, got inf"],
    ),
    "config not utf-8": (
        config(b"# r\xe9glages\nruntime: {max_retries: 1}\n"),
        ["config.yaml: not UTF-8 text (byte 0xe9 at line 1"],
    ),
    "5000-digit id": (
        dataset(LONG_ID),
        ["dataset.json: field 'id' at line 1, column 9: the number 77777777777777777777… has 5000 digits"],
    ),
    "deeply nested JSON": (dataset(DEEP), ["dataset.json: JSON nested too deeply to read"]),
    "deeply nested field": (
        dataset(NESTED_FIELD),
        ["dataset.json item 0 (id='q000'): field 'notes' nests deeper than 16 levels"],
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_is_a_usage_error_before_any_item(bench, case):
    write, expected = CASES[case]
    write(bench)
    res = bench.runpytest("--model", "constant", "-p", "no:cacheprovider")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    err = res.stderr.str()
    for text in expected:
        assert text in err, err
    out = res.stdout.str() + err
    assert "INTERNALERROR" not in out and "Traceback" not in out
    assert "passed" not in out and "failed" not in out
    assert not (bench.path / "reports").exists() or not list((bench.path / "reports").iterdir())


def test_a_good_output_pattern_still_names_the_results(bench):
    config(b"benchmark:\n  level1: {output_pattern: 'r_{model}_{level:02d}.json'}\n")(bench)
    write_dataset(bench.path / "data" / "level_1", choice_items(2))
    res = bench.runpytest("--model", "constant", "-m", "avt")
    assert res.ret == 0
    assert (last_run(bench.path, "constant") / "r_constant_01.json").is_file()
