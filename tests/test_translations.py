"""What tlbook says to a reader is in the reader's language: every message, every value kept.

The mechanism (``tlbook.translations``): messages are English templates passed to ``say`` as
literals, fixed texts from tables pass through ``label``, one table per language. These tests read
every ``say`` call of the package from its source, so a new message cannot ship untranslated, and a
pseudo-language run of every exercise's check on generated answers finds any English that bypasses
the mechanism (an f-string printed to the reader).
"""

from __future__ import annotations

import ast
import json
import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tlbook
from tlbook import exercises, translations
from tlbook.config import LANGUAGES, reader_language
from tlbook.errors import ConfigError
from tlbook.exercises import EXERCISES, check, judge_outputs, labels
from tlbook.translations import placeholders, say, speaking

PACKAGE = Path(tlbook.__file__).parent
GLOSSARY = Path(__file__).resolve().parents[1] / "locale" / "zh_CN" / "GLOSSARY.md"


def _say_calls() -> list[tuple[str, int, ast.Call]]:
    found = []
    for source in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "say"
            ):
                found.append((source.name, node.lineno, node))
    return found


def _templates() -> set[str]:
    return {
        call.args[0].value
        for _, _, call in _say_calls()
        if call.args and isinstance(call.args[0], ast.Constant)
    }


def test_every_say_call_names_its_template_literally():
    """A template built at run time (an f-string, a variable) could not be checked against the tables."""
    bad = [
        f"{file}:{line}"
        for file, line, call in _say_calls()
        if len(call.args) != 1
        or not isinstance(call.args[0], ast.Constant)
        or not isinstance(call.args[0].value, str)
    ]
    assert not bad, "say() needs one literal template, values by name: " + ", ".join(
        bad
    )
    assert len(_templates()) > 50  # the reader's messages: the exercises' feedback


def test_every_placeholder_is_given_a_value_at_its_call():
    missing = []
    for file, line, call in _say_calls():
        given_names = {k.arg for k in call.keywords}
        wanted = set(placeholders(call.args[0].value))
        if wanted != given_names:
            missing.append(f"{file}:{line}: {sorted(wanted ^ given_names)}")
    assert not missing, missing


@pytest.mark.parametrize("language", LANGUAGES[1:])
def test_each_table_translates_every_message_and_nothing_else(language):
    table = translations.table(language)
    wanted = _templates() | labels()
    assert not sorted(wanted - set(table)), "untranslated"
    assert not sorted(set(table) - wanted), "obsolete: no longer said"
    same = [k for k, v in table.items() if v == k and re.search(r"[a-z]{4}", k)]
    assert same in ([], ["ReLU"]), f"left in English: {same}"


def _fields(template: str) -> set[tuple[str, str, str | None]]:
    return {
        (f, spec, conv)
        for _, f, spec, conv in string.Formatter().parse(template)
        if f is not None
    }


@pytest.mark.parametrize("language", LANGUAGES[1:])
def test_a_translation_keeps_every_value_and_its_format(language):
    table = translations.table(language)
    changed = {k: v for k, v in table.items() if _fields(k) != _fields(v)}
    assert not changed, changed


@pytest.mark.parametrize("language", LANGUAGES[1:])
def test_the_tables_use_the_glossarys_terms(language):
    text = GLOSSARY.read_text(encoding="utf-8").split("## Checked terms")[1]
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.split("\n## ")[0].splitlines()
        if line.startswith("|")
    ][2:]
    wrong = [
        (en, k[:60])
        for k, v in translations.table(language).items()
        for en, zh in rows
        if re.search(r"\b" + re.escape(en), k.lower())
        and zh not in v
        and en not in v.lower()
    ]
    assert not wrong, wrong


def test_the_table_is_shipped_with_the_package():
    """Read as package data (an installed tlbook has no repository around it)."""
    for language in LANGUAGES[1:]:
        path = PACKAGE / "locale" / f"{language}.json"
        assert json.loads(path.read_text(encoding="utf-8")) == translations.table(
            language
        )
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"locale/*.json"' in pyproject


_VALUE_TEXT = st.text(alphabet="0123456789-", min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(values=st.data())
def test_every_template_says_every_value_in_every_language(values):
    template = values.draw(st.sampled_from(sorted(_templates())))
    filled = {}
    for _, field, spec, _conv in string.Formatter().parse(template):
        if field is None or field in filled:
            continue
        if spec and spec[-1] in "gf%":
            filled[field] = values.draw(st.floats(-1e6, 1e6, allow_nan=False))
        else:
            filled[field] = values.draw(_VALUE_TEXT)
    for language in LANGUAGES:
        with speaking(language):
            said = say(template, **filled)
        for field, value in filled.items():
            if isinstance(value, str):
                assert (repr(value) if f"{{{field}!r}}" in template else value) in said


# --- nothing reaches the reader in English by another way ---------------------------------------------------


def _english_in_values() -> list[str]:
    """Values handed to ``say`` that hold English text of their own (``x=f"expected {want}"``)."""

    def constants(node: ast.AST):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("say", "label")
        ):
            return  # said in the reader's language itself
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(
            node, ast.Call
        ):  # another function's arguments are its input, not text shown
            yield from constants(node.func)
        elif isinstance(node, ast.Subscript):  # a key looked up, not text shown
            yield from constants(node.value)
        else:
            for child in ast.iter_child_nodes(node):
                yield from constants(child)

    return [
        f"{file}:{line}: {k.arg}={text!r}"
        for file, line, call in _say_calls()
        for k in call.keywords
        for text in constants(k.value)
        if re.search(r"[A-Za-z]{3,}", text)
    ]


def test_no_value_handed_to_say_is_english_text():
    assert not _english_in_values()


def _pseudo(template: str) -> str:
    """``template`` with every letter of its text blotted out and every value marked ⟨...⟩."""
    out = []
    for literal, field, spec, conv in string.Formatter().parse(template):
        out.append(
            re.sub(r"[A-Za-z]", "·", literal).replace("{", "{{").replace("}", "}}")
        )
        if field is not None:
            out.append(
                "⟨{"
                + field
                + (f"!{conv}" if conv else "")
                + (f":{spec}" if spec else "")
                + "}⟩"
            )
    return "".join(out)


class _Raises:
    def __init__(self, error: type[Exception]):
        self.error = error

    def __call__(self, *args, **kwargs):
        raise self.error("12")


_ANSWER_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 300),
        st.floats(-2, 2, allow_nan=False),
        _VALUE_TEXT,
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_VALUE_TEXT, inner, max_size=3)
    ),
    max_leaves=8,
)


def _answers(ex_id: str):
    keys = {
        "1.2": ["prediction", "pretrained", "scratch"],
        "4.2": ["categorical", "binary"],
        "5.3": ["accuracy_changes", "ece_before", "ece_after"],
        "6.2": list(exercises._FAQ),
        "6.3": ["folder", "result"],
    }.get(ex_id, [])
    data = _ANSWER_VALUES | (
        st.fixed_dictionaries({k: _ANSWER_VALUES for k in keys})
        if keys
        else st.nothing()
    )
    if EXERCISES[ex_id].answer != "function":
        return data
    return (
        data.map(lambda v: lambda *args, **kwargs: v)
        | st.sampled_from([NotImplementedError, ValueError, ZeroDivisionError]).map(
            _Raises
        )
        | data
    )


@pytest.fixture
def pseudo_language():
    """Every table is a pseudo-language: text blotted out, values marked; the reader's setting is unset."""
    mp = pytest.MonkeyPatch()
    pseudo = {t: _pseudo(t) for t in _templates() | labels()}
    mp.setattr(translations, "table", lambda language: pseudo)
    mp.delenv("TLBOOK_LANG", raising=False)
    mp.delenv("TLBOOK_ANSWERS", raising=False)
    yield
    mp.undo()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_check_says_nothing_that_bypasses_the_tables(data, pseudo_language, capsys):
    """Generated answers to every exercise: once the values are taken out, no English is left."""
    ex_id = data.draw(st.sampled_from(sorted(EXERCISES)))
    answer = data.draw(_answers(ex_id))
    capsys.readouterr()
    check(ex_id, answer)
    printed = capsys.readouterr().out
    text, values = printed, re.compile(r"⟨[^⟨⟩]*⟩")
    while values.search(text):
        text = values.sub("", text)
    assert printed.strip() and not re.search(r"[A-Za-z]", text), (
        ex_id,
        answer,
        printed,
    )


# --- the reader's setting, and the grader's English ---------------------------------------------------------


@given(st.text(max_size=12))
def test_any_setting_is_a_language_tlbook_speaks_or_an_error_naming_it(raw):
    import os

    old = os.environ.get("TLBOOK_LANG")
    try:
        if "\x00" in raw:
            return  # not a value an environment can hold
        os.environ["TLBOOK_LANG"] = raw
        try:
            assert reader_language() in LANGUAGES
        except ConfigError as e:
            assert repr(raw) in str(e)
    finally:
        if old is None:
            os.environ.pop("TLBOOK_LANG", None)
        else:
            os.environ["TLBOOK_LANG"] = old


@pytest.mark.parametrize(
    ("raw", "language"),
    [
        ("", "en"),
        ("zh_CN", "zh_CN"),
        ("zh-CN", "zh_CN"),
        ("zh_CN.UTF-8", "zh_CN"),
        ("ZH", "zh_CN"),
        ("en_GB", "en"),
    ],
)
def test_settings_as_locales_are_written(raw, language, monkeypatch):
    monkeypatch.setenv("TLBOOK_LANG", raw)
    assert reader_language() == language


def test_the_reader_reads_chinese_and_the_grader_english(monkeypatch, capsys):
    monkeypatch.setenv("TLBOOK_LANG", "zh_CN")
    wrong = lambda n, kernel, stride, padding: n - kernel + 1  # noqa: E731
    assert check("3.2", wrong) is False
    printed = capsys.readouterr().out
    assert "练习 3.2（卷积的输出尺寸）" in printed and "应为 112" in printed
    ex = EXERCISES["3.2"]
    cases = ex.cases(None)
    verdict = judge_outputs(ex, cases, [wrong(*c) for c in cases], reveal=False)
    assert (
        "you return 30" in verdict.feedback()
    )  # the teacher's sheet: English, whatever the reader reads


def test_an_unknown_setting_is_named_and_the_check_still_runs(monkeypatch, capsys):
    monkeypatch.setenv("TLBOOK_LANG", "klingon")
    assert check(
        "3.2",
        lambda n, kernel, stride, padding: (n + 2 * padding - kernel) // stride + 1,
    )
    printed = capsys.readouterr().out
    assert "TLBOOK_LANG is 'klingon'" in printed and "✓ Exercise 3.2 passed" in printed


def test_what_is_handed_in_does_not_depend_on_the_readers_language(
    monkeypatch, tmp_path, capsys
):
    def handed(lang: str) -> list[dict]:
        folder = tmp_path / lang
        folder.mkdir()
        monkeypatch.setenv("TLBOOK_ANSWERS", str(folder))
        monkeypatch.setenv("TLBOOK_LANG", lang)
        check("5.3", {"accuracy_changes": True, "ece_before": 0.2, "ece_after": 2})
        check("1.2", {"prediction": "pretrained", "pretrained": ..., "scratch": 0.1})
        return [
            {k: v for k, v in json.loads(p.read_text()).items() if k != "count"}
            for p in sorted(folder.glob("*.json"))
        ]

    assert handed("en") == handed("zh_CN")
