"""The exercises at the end of each chapter: ``check("2.1", answer)`` with specific feedback, and their grading.

Every exercise has an id ``"<chapter>.<number>"``, a title, a kind
(``derive-and-code``, ``run-and-interpret`` or ``open-ended``), points split
into named **parts** (a half-right answer earns part of the credit), and a
check in three steps that never share a process in grading:

1. ``cases(rng)``: the inputs. ``rng=None`` gives the handout's public cases;
   the grader passes a ``random.Random`` seeded from the instructor's secret,
   so the graded cases are variants no student has seen.
2. ``probe(answer, case)``: runs the answer on one case and returns plain data
   (numbers, lists, strings). It is the only step that touches the student's
   code, and it runs with tlbook's own implementation of the exercise withheld
   (:func:`withheld`): an answer that calls it gets "uses tlbook's own ...".
3. ``judge(cases, outputs, reveal=..., reference=...)``: turns the outputs into
   a :class:`Verdict` (points per part, a problem per failed part). In grading
   it runs in the grader's process, with the grader's copy of this module, and
   ``reveal=False`` keeps expected values out of the feedback.

:func:`check` runs the three steps in the notebook on the public cases and
prints the feedback; it never raises, so one unfinished exercise does not stop
the others. A stub that still raises ``NotImplementedError`` is "not attempted
yet". When the grader runs a notebook, ``check`` also hands the answer in
(:func:`tlbook.grading.hand_in`); the printed verdict is only for the student.

>>> check("3.2", lambda n, kernel, stride, padding: (n + 2 * padding - kernel) // stride + 1)
✓ Exercise 3.2 passed: output size of a convolution
True
>>> check("3.2", lambda n, kernel, stride, padding: n - kernel + 1)
✗ Exercise 3.2 (output size of a convolution): 0 of 2 points
  - stride 1: for n=32, kernel=3, stride=1, padding=1 you return 30; expected 32 (a 'same' 3x3 convolution): use (n + 2*padding - kernel) // stride + 1
  - stride > 1: for n=224, kernel=7, stride=2, padding=3 you return 218; expected 112 (the ResNet stem): use (n + 2*padding - kernel) // stride + 1
False
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .translations import label, say, speaking

__all__ = [
    "Part",
    "Written",
    "Exercise",
    "Verdict",
    "EXERCISES",
    "KINDS",
    "check",
    "exercises_of",
    "probe_answer",
    "judge_outputs",
    "plain",
    "folder_facts",
    "withheld",
    "labels",
]

KINDS = ("derive-and-code", "run-and-interpret", "open-ended")

# What a check hands the grader: a function (run by the grader, in its sandbox, on hidden inputs), plain data
# (numbers, dicts, matrices), or a folder of images (read by the grader's own code, never the student's).
ANSWER_KINDS = ("function", "data", "folder")

# Prefix of the error that tlbook's withheld implementations raise (see withheld()).
WITHHELD = "uses tlbook's own"

# Measured answers must agree with the grader's own run of the same experiment to this much.
MEASURE_TOLERANCE = 0.05


@dataclass(frozen=True)
class Part:
    """One part of an exercise's credit."""

    name: str
    points: float = 1.0


@dataclass(frozen=True)
class Written:
    """A question answered in words, in a markdown cell of the handout, graded by hand."""

    key: str  # "1.2 why": exercise id, then a word
    prompt: str
    points: float = 1.0
    before: bool = False  # a prediction: its cell comes before the exercise's code cell


@dataclass(frozen=True)
class Exercise:
    """One exercise: what it is, what it is worth, and how an answer is checked (see the module's docstring)."""

    id: str  # "<chapter>.<number>", e.g. "2.1"
    title: str
    kind: str  # one of KINDS
    answer: str  # one of ANSWER_KINDS
    parts: tuple[Part, ...]
    cases: Callable[[random.Random | None], list[Any]]
    probe: Callable[
        [Any, Any], Any
    ]  # function answers only: data and folders are judged as handed in
    judge: Callable[
        ..., dict[str, str]
    ]  # (cases, outputs, *, reveal, reference) -> {part: problem}
    library: tuple[
        str, ...
    ] = ()  # "module:function" implementations the answer may not call
    measure: Callable[[Any], dict[str, float]] | None = (
        None  # the grader's own measurement (a Config)
    )
    written: tuple[Written, ...] = ()

    @property
    def chapter(self) -> int:
        return int(self.id.split(".")[0])

    @property
    def points(self) -> float:
        return sum(p.points for p in self.parts)


@dataclass
class Verdict:
    """Points per part of one answer, and what is wrong with each part that earned none."""

    exercise: str
    earned: dict[str, float]
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def points(self) -> float:
        return sum(self.earned.values())

    @property
    def max_points(self) -> float:
        return EXERCISES[self.exercise].points

    @property
    def passed(self) -> bool:
        return not self.problems

    def feedback(self) -> str:
        """The problems as one line, part by part (empty when every part passed)."""
        return "; ".join(f"{part}: {p}" for part, p in self.problems.items())


EXERCISES: dict[str, Exercise] = {}


def _register(
    id: str,
    title: str,
    kind: str,
    *,
    answer: str,
    parts: tuple[Part, ...],
    cases: Callable[[random.Random | None], list[Any]],
    probe: Callable[[Any, Any], Any] | None = None,
    library: tuple[str, ...] = (),
    measure: Callable[[Any], dict[str, float]] | None = None,
    written: tuple[Written, ...] = (),
) -> Callable[[Callable[..., dict[str, str]]], Callable[..., dict[str, str]]]:
    assert kind in KINDS and answer in ANSWER_KINDS, (kind, answer)

    def register(judge: Callable[..., dict[str, str]]) -> Callable[..., dict[str, str]]:
        EXERCISES[id] = Exercise(
            id,
            title,
            kind,
            answer,
            parts,
            cases,
            probe or _call,
            judge,
            library,
            measure,
            written,
        )
        return judge

    return register


def exercises_of(chapter: int) -> list[Exercise]:
    """The exercises of ``chapter`` in order.

    >>> [e.id for e in exercises_of(2)]
    ['2.1', '2.2', '2.3']
    """
    return sorted(
        (e for e in EXERCISES.values() if e.chapter == chapter),
        key=lambda e: int(e.id.split(".")[1]),
    )


# --- the three steps ------------------------------------------------------------------------------------------


def plain(x: Any) -> Any:
    """``x`` as JSON-ready data: tensors and arrays become nested lists, paths strings, tuples lists.

    >>> import torch; plain({"m": torch.eye(2), "ok": (True, 0.5)})
    {'m': [[1.0, 0.0], [0.0, 1.0]], 'ok': [True, 0.5]}
    """
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if hasattr(x, "tolist") and callable(
        x.tolist
    ):  # torch tensors, numpy arrays and scalars
        if hasattr(x, "detach"):
            x = x.detach().cpu()
        return plain(x.tolist())
    raise TypeError(
        say(
            "a {type} is not a number, string, list, dict or tensor",
            type=type(x).__name__,
        )
    )


@contextlib.contextmanager
def withheld(names: tuple[str, ...]) -> Iterator[None]:
    """Within the block, tlbook's functions ``names`` ("module:function") raise instead of computing.

    Each function's code is swapped, so every reference to it, however it was obtained (imported under
    another name, kept in a list), runs the stand-in; the original code is back after the block.

    >>> from tlbook.evaluation import wilson_interval as w
    >>> with withheld(("tlbook.evaluation:wilson_interval",)):
    ...     w(1, 2)
    Traceback (most recent call last):
    LookupError: uses tlbook's own wilson_interval: write your own
    >>> round(w(1, 2)[0], 3)
    0.095
    """
    saved = []
    try:
        for name in names:
            module, attr = name.split(":")
            fn = getattr(importlib.import_module(module), attr)
            stand_in: dict[str, Any] = {}
            exec(  # a stand-in with the same free variables, so the swap is allowed
                f"def {attr}(*args, **kwargs):\n"
                f"    raise LookupError({WITHHELD + ' ' + attr + ': write your own'!r})",
                {},
                stand_in,
            )
            code = stand_in[attr].__code__
            if fn.__code__.co_freevars:
                code = code.replace(co_freevars=fn.__code__.co_freevars)
            saved.append((fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__))
            _ORIGINAL_CODE.setdefault(name, fn.__code__)
            fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, None, None
        yield
    finally:
        for fn, code, defaults, kwdefaults in reversed(saved):
            fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, defaults, kwdefaults


# The real code of each withheld function ("module:function"), kept while a stand-in runs in its place.
_ORIGINAL_CODE: dict[str, Any] = {}


def library_code(names: tuple[str, ...]) -> list[bytes]:
    """The bytecode of tlbook's implementations ``names`` (and of the functions they define inside).

    The real code, also while :func:`withheld` has swapped in a stand-in.
    """
    found: list[bytes] = []
    for name in names:
        module, attr = name.split(":")
        real = getattr(importlib.import_module(module), attr).__code__
        todo = [_ORIGINAL_CODE.get(name, real)]
        while todo:
            code = todo.pop()
            found.append(code.co_code)
            todo += [c for c in code.co_consts if hasattr(c, "co_code")]
    return found


def copies_library(answer: Any, names: tuple[str, ...]) -> str | None:
    """The name of the library implementation among ``names`` whose code ``answer`` is a copy of, if any.

    A copy (``FunctionType(wilson_interval.__code__, ...)``, or its source pasted into a cell) has the
    same bytecode, whatever it is called.

    >>> from tlbook.evaluation import wilson_interval
    >>> copies_library(wilson_interval, ("tlbook.evaluation:wilson_interval",))
    'wilson_interval'
    >>> copies_library(lambda k, n: (0, 1), ("tlbook.evaluation:wilson_interval",)) is None
    True
    """
    theirs: dict[tuple, str] = {}
    for name in names:
        module, attr = name.split(":")
        real = getattr(importlib.import_module(module), attr).__code__
        for c in _code_tree(_ORIGINAL_CODE.get(name, real)):
            theirs.setdefault(_fingerprint(c), attr)
    start = getattr(answer, "__code__", None)
    for c in _code_tree(start) if start is not None else []:
        # Trivial bodies (a stub's raise) are not a copy of anything.
        if len(c.co_code) > 8 and _fingerprint(c) in theirs:
            return theirs[_fingerprint(c)]
    return None


def _code_tree(code: Any) -> list[Any]:
    """``code`` and the code objects of the functions defined inside it."""
    found, todo = [], [code]
    while todo:
        c = todo.pop()
        found.append(c)
        todo += [k for k in c.co_consts if hasattr(k, "co_code")]
    return found


def _fingerprint(code: Any) -> tuple:
    """What a copy keeps whatever its name: the bytecode, the names it uses and its constants."""
    consts = tuple(repr(k) for k in code.co_consts if not hasattr(k, "co_code"))
    return (
        code.co_code,
        code.co_names,
        consts[1:] if consts else consts,
    )  # [1:]: not the docstring


def _error(e: BaseException) -> dict[str, str]:
    if isinstance(e, NotImplementedError):
        return {
            "error": say(
                "not attempted yet: your function still raises NotImplementedError; replace that line"
            )
        }
    message = str(e)
    if message.startswith(WITHHELD):
        function = message[len(WITHHELD) :].split(":")[0].strip()
        return {
            "error": say(
                "uses tlbook's own {function}: write your own", function=function
            )
        }
    return {
        "error": say(
            "your code raised {error}: {message}",
            error=type(e).__name__,
            message=message,
        )
    }


def probe_answer(
    ex: Exercise,
    answer: Any,
    cases: list[Any],
    *,
    library: tuple[str, ...] | None = None,
) -> list[Any]:
    """The answer's outputs on ``cases``, as plain data; an output is ``{"error": ...}`` where it failed.

    Runs the student's code with tlbook's own implementations ``library`` (default: the exercise's)
    withheld; never raises.
    """
    library = ex.library if library is None else library
    if ex.answer == "function":
        if not callable(answer):
            what = type(answer).__name__
            return [
                {"error": say("expected a function, got a {type}", type=what)}
            ] * len(cases)
        copied = copies_library(answer, library)
        if copied:
            why = say(
                "uses tlbook's own {function} (a copy of its code): write your own",
                function=copied,
            )
            return [{"error": why}] * len(cases)
    outputs = []
    with withheld(library):
        for case in cases:
            try:
                outputs.append(plain(ex.probe(answer, case)))
            except Exception as e:  # noqa: BLE001 - the student's code failed: say how, per case
                outputs.append(_error(e))
    return outputs


def judge_outputs(
    ex: Exercise,
    cases: list[Any],
    outputs: list[Any],
    *,
    reveal: bool,
    reference: dict[str, Any] | None = None,
) -> Verdict:
    """Points per part for ``outputs`` (from :func:`probe_answer`) on ``cases``; runs no student code."""
    errors = [
        o["error"] for o in outputs if isinstance(o, dict) and set(o) == {"error"}
    ]
    if errors:
        problems = {p.name: errors[0] for p in ex.parts}
    else:
        try:
            problems = ex.judge(cases, outputs, reveal=reveal, reference=reference)
        except Exception as e:  # noqa: BLE001 - malformed outputs: a list where a number was due, say
            why = say(
                "the answer has the wrong form ({error}: {message})",
                error=type(e).__name__,
                message=e,
            )
            problems = {p.name: why for p in ex.parts}
    earned = {p.name: (0.0 if p.name in problems else p.points) for p in ex.parts}
    return Verdict(ex.id, earned, {k: v for k, v in problems.items() if v})


def _unanswered(answer: Any) -> str | None:
    if answer is None or answer is Ellipsis:
        return say("not attempted yet: replace the ... (or None) with your answer")
    if isinstance(answer, dict):
        missing = [str(k) for k, v in answer.items() if v is Ellipsis]
        if missing:
            return say(
                "not attempted yet: fill in {keys} (still ...)", keys=", ".join(missing)
            )
    return None


def answer_data(ex: Exercise, form: Any) -> Any:
    """The data a judge reads for a handed-in ``form`` (:func:`hand_in_form`) of a data or folder answer.

    A folder is replaced by what tlbook's own code reads in it (:func:`folder_facts`), so nothing the
    notebook says about the folder counts. Runs no student code.
    """
    if ex.answer != "folder":
        return form
    if isinstance(form, dict) and "folder" in form:
        return {**form, "folder": folder_facts(form["folder"])}
    return folder_facts(form)


def check(exercise: str, answer: Any) -> bool:
    """Check ``answer`` to ``exercise`` (e.g. ``"2.1"``) on the handout's cases; print feedback; return whether it passed.

    The feedback is in the reader's language (``TLBOOK_LANG``, :func:`tlbook.config.reader_language`);
    what is handed to a grader is the answer alone, never this feedback.

    With ``TLBOOK_LANG=zh_CN`` the second example of the module's docstring prints
    ``✗ 练习 3.2（卷积的输出尺寸）：2 分中得 0 分`` and its problems in Chinese.
    """
    from .config import reader_language
    from .errors import ConfigError
    from .grading import hand_in

    try:
        language = reader_language()
    except ConfigError as e:
        print(f"{e}; the feedback is in English")
        language = "en"
    if exercise in EXERCISES and _unanswered(answer) is None:
        hand_in(
            EXERCISES[exercise], answer
        )  # the grader's copy: English, whatever the reader reads
    with speaking(language):
        return _check(exercise, answer)


def _check(exercise: str, answer: Any) -> bool:
    """:func:`check`'s judgement and feedback, in the language spoken here."""
    if exercise not in EXERCISES:
        print(
            say(
                "✗ There is no exercise {exercise!r}; known exercises: {known}",
                exercise=exercise,
                known=", ".join(EXERCISES),
            )
        )
        return False
    ex = EXERCISES[exercise]
    cases = ex.cases(None)
    empty = _unanswered(answer)
    if empty:
        outputs: list[Any] = [{"error": empty}] * len(cases)
    elif ex.answer == "function":
        outputs = probe_answer(ex, answer, cases)
    else:
        try:
            outputs = [answer_data(ex, hand_in_form(ex, answer))] * len(cases)
        except TypeError as e:
            outputs = [
                {"error": say("your answer cannot be checked: {why}", why=e)}
            ] * len(cases)
    verdict = judge_outputs(ex, cases, outputs, reveal=True, reference=None)
    if verdict.passed:
        print(say("✓ Exercise {id} passed: {title}", id=ex.id, title=label(ex.title)))
    else:
        problems = verdict.problems
        lines = (
            [f"  - {next(iter(problems.values()))}"]
            if len(set(problems.values())) == 1 and len(problems) == len(ex.parts)
            else [
                say("  - {part}: {problem}", part=label(part), problem=p)
                for part, p in problems.items()
            ]
        )
        score = say(
            "{points:g} of {max_points:g} points",
            points=verdict.points,
            max_points=verdict.max_points,
        )
        print(
            say(
                "✗ Exercise {id} ({title}): {score}",
                id=ex.id,
                title=label(ex.title),
                score=score,
            )
            + "\n"
            + "\n".join(lines)
        )
    return verdict.passed


# --- helpers for the checks -------------------------------------------------------------------------------------


def _tensor(
    x: Any, what: str
):  # -> torch.Tensor (float64); what: already said in the reader's language
    import torch

    try:
        return torch.as_tensor(x, dtype=torch.float64)
    except Exception:
        raise TypeError(
            say("{what} should be a tensor of numbers", what=what)
        ) from None


def _fmt(t: Any) -> str:
    import torch

    if isinstance(t, torch.Tensor):
        return "(" + ", ".join(f"{float(v):.2f}" for v in t.flatten()) + ")"
    return f"{t:.4g}" if isinstance(t, float) else str(t)


def _expected(text: str, reveal: bool) -> str:
    """``text`` (an expected value) in the notebook; a neutral phrase when grading (hidden cases stay hidden)."""
    return text if reveal else say("that is not the expected value")


def _is_fraction(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0


def _call(answer: Any, case: Any) -> Any:
    """Call a function answer with the case's arguments (a tuple)."""
    return answer(*case)


# --- chapter 1: concepts ----------------------------------------------------------------------------------


def _head_cases(rng: random.Random | None) -> list[tuple[int, int]]:
    if rng is None:
        return [(1280, 10), (512, 10), (2048, 1000), (7, 3)]
    return [(rng.randint(2, 4096), rng.randint(2, 1000)) for _ in range(4)]


@_register(
    "1.1",
    "parameters of a new head",
    "derive-and-code",
    answer="function",
    parts=(Part("weights"), Part("biases")),
    cases=_head_cases,
    probe=_call,
)
def _judge_head(cases, outputs, *, reveal, reference) -> dict[str, str]:
    problems: dict[str, str] = {}
    for (d, k), got in zip(cases, outputs):
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            why = say("you return {got!r}; expected a number", got=got)
            return dict.fromkeys(("weights", "biases"), why)
        if got not in (d * k, d * k + k) and "weights" not in problems:
            problems["weights"] = say(
                "for {d} features and {k} classes you return {got}; {expected}: a weight for every "
                "(feature, class) pair plus one bias per class",
                d=d,
                k=k,
                got=got,
                expected=_expected(say("expected {want}", want=d * k + k), reveal),
            )
        if got != d * k + k and "biases" not in problems:
            problems["biases"] = (
                say(
                    "for {d} features and {k} classes you return {got} (you forgot the bias: one per class)",
                    d=d,
                    k=k,
                    got=got,
                )
                if got == d * k
                else say(
                    "for {d} features and {k} classes you return {got}",
                    d=d,
                    k=k,
                    got=got,
                )
            )
    return problems


def _measure_transfer(cfg: Any) -> dict[str, float]:
    """The grader's own run of exercise 1.2's experiment (the solution's), in ``cfg``'s preset."""
    from .experiment import run

    few = cfg.replace(train_per_class=10)
    return {
        "pretrained": run(few, strategy="probe").test.accuracy,
        "scratch": run(few, strategy="scratch").test.accuracy,
    }


def _measured(value: Any, key: str, reference: dict | None, reveal: bool) -> str | None:
    """A problem with a measured number, or None: a fraction, and the grader's own measurement when given."""
    if not _is_fraction(value):
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value > 1
        ):
            return say(
                "{name} is {value!r}; expected the measured value, a number in [0, 1] (give a fraction "
                "such as 0.45, not a percentage)",
                name=key,
                value=value,
            )
        return say(
            "{name} is {value!r}; expected the measured value, a number in [0, 1]",
            name=key,
            value=value,
        )
    if reference is not None and abs(value - reference[key]) > MEASURE_TOLERANCE:
        return say(
            "{name} is {value:.3f}, but the same experiment measured {measured} (more than "
            "{tolerance:g} apart): report what your run measured",
            name=key,
            value=value,
            measured=f"{reference[key]:.3f}" if reveal else say("something else"),
            tolerance=MEASURE_TOLERANCE,
        )
    return None


@_register(
    "1.2",
    "predict, then measure: pretrained versus scratch on few labels",
    "run-and-interpret",
    answer="data",
    parts=(Part("prediction"), Part("pretrained measured"), Part("scratch measured")),
    cases=lambda rng: [None],
    measure=_measure_transfer,
    written=(
        Written(
            "1.2 prediction",
            "Before you run anything: which network do you expect to win with 10 labelled images per "
            "class, and by roughly how much? Why?",
            before=True,
        ),
        Written(
            "1.2 why",
            "Was your prediction right? Compare the gap with the one the chapter measured with more "
            "labels: is it larger or smaller, and why?",
        ),
    ),
)
def _judge_transfer(cases, outputs, *, reveal, reference) -> dict[str, str]:
    answer = outputs[0]
    if not isinstance(answer, dict) or set(answer) != {
        "prediction",
        "pretrained",
        "scratch",
    }:
        form = say(
            "answer with a dict {{'prediction': 'pretrained' or 'scratch', 'pretrained': accuracy, "
            "'scratch': accuracy}}"
        )
        return {p.name: form for p in EXERCISES["1.2"].parts}
    problems: dict[str, str] = {}
    if answer["prediction"] not in ("pretrained", "scratch"):
        problems["prediction"] = say(
            "prediction is {got!r}; write 'pretrained' or 'scratch' (before you run)",
            got=answer["prediction"],
        )
    for name in ("pretrained", "scratch"):
        p = _measured(answer[name], name, reference, reveal)
        if p:
            problems[f"{name} measured"] = p
    return problems


def folder_facts(folder: Any, *, max_files: int = 20_000) -> dict[str, Any]:
    """What the grader needs to know about a folder of class folders, read by tlbook's own code.

    Only the image headers are read (:func:`tlbook.images.image_size`), at most ``max_files`` files.
    ``sizes`` counts images by ``"WxH"``; ``unreadable`` names up to three files that are not images.

    >>> folder_facts("/nonexistent")["exists"]
    False
    """
    from .images import ImageError, image_size

    try:
        root = Path(os.fspath(folder)).expanduser()
    except TypeError:
        return {
            "error": say(
                "expected the path of a folder, got a {type}",
                type=type(folder).__name__,
            )
        }
    facts: dict[str, Any] = {"path": str(root), "exists": root.is_dir(), "classes": {}}
    facts.update(sizes={}, unreadable=[])
    if not facts["exists"]:
        return facts
    seen = 0
    for sub in sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
    ):
        count = 0
        for f in sorted(sub.iterdir()):
            if seen >= max_files or not f.is_file() or f.name.startswith("."):
                continue
            seen += 1
            try:
                w, h = image_size(f)
            except ImageError:
                if len(facts["unreadable"]) < 3:
                    facts["unreadable"].append(f"{sub.name}/{f.name}")
                continue
            count += 1
            facts["sizes"][f"{w}x{h}"] = facts["sizes"].get(f"{w}x{h}", 0) + 1
        facts["classes"][sub.name] = count
    return facts


def _judge_folder(facts: dict, *, folder_part: str, own_part: str) -> dict[str, str]:
    if "error" in facts:
        return {folder_part: facts["error"], own_part: facts["error"]}
    if not facts["exists"]:
        why = say(
            "{path} is not a folder; point it at a folder with one subfolder of images per class",
            path=facts["path"],
        )
        return {folder_part: why, own_part: why}
    with_images = {c: n for c, n in facts["classes"].items() if n > 0}
    problems: dict[str, str] = {}
    if len(with_images) < 2:
        problems[folder_part] = say(
            "{folder} has {count} class folder(s) with images ({classes}); a classifier needs at least two",
            folder=Path(facts["path"]).name,
            count=len(with_images),
            classes=", ".join(facts["classes"]) or say("none"),
        )
    total = sum(facts["sizes"].values())
    if total == 0:
        problems[own_part] = say("the folder holds no images")
    elif facts["sizes"].get("32x32", 0) * 2 >= total:
        problems[own_part] = say(
            "{small} of its {total} images are 32x32 pixels, CIFAR-10's size (what "
            "export_image_folder writes): photograph or collect images of your own",
            small=facts["sizes"].get("32x32", 0),
            total=total,
        )
    return problems


@_register(
    "1.3",
    "bring your own images: a folder of class folders",
    "open-ended",
    answer="folder",
    parts=(Part("a folder of class folders"), Part("your own images")),
    cases=lambda rng: [None],
    written=(
        Written(
            "1.3 why",
            "Which of your classes would ImageNet features separate easily, and which not? Why?",
        ),
    ),
)
def _judge_own_folder(cases, outputs, *, reveal, reference) -> dict[str, str]:
    return _judge_folder(
        outputs[0], folder_part="a folder of class folders", own_part="your own images"
    )


# --- chapter 2: augmentation math -------------------------------------------------------------------------


def _angles(rng: random.Random | None, public: list[float]) -> list[tuple[float]]:
    if rng is None:
        return [(a,) for a in public]
    return [(round(rng.choice((-1, 1)) * rng.uniform(5.0, 60.0), 2),) for _ in range(3)]


@_register(
    "2.1",
    "a vertical shear matrix",
    "derive-and-code",
    answer="function",
    parts=(Part("homogeneous 3x3"), Part("x unchanged"), Part("y sheared by tan(phi)")),
    cases=lambda rng: _angles(rng, [20.0, -35.0]),
    probe=_call,
    library=("tlbook.augment:shear",),
)
def _judge_shear(cases, outputs, *, reveal, reference) -> dict[str, str]:
    import torch

    problems: dict[str, str] = {}
    for (phi,), out in zip(cases, outputs):
        m = _tensor(out, say("your matrix"))
        if m.shape != (3, 3):
            why = say(
                "your matrix has shape {shape}; expected a 3x3 homogeneous matrix",
                shape=tuple(m.shape),
            )
            return dict.fromkeys(
                ("homogeneous 3x3", "x unchanged", "y sheared by tan(phi)"), why
            )
        if not torch.allclose(m[2], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)):
            problems.setdefault(
                "homogeneous 3x3",
                say(
                    "the last row is {row}; a homogeneous affine matrix ends with (0, 0, 1)",
                    row=_fmt(m[2]),
                ),
            )
        t = math.tan(math.radians(phi))
        if not torch.allclose(
            m[0], torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), atol=1e-5
        ):
            problems.setdefault(
                "x unchanged",
                say(
                    "for phi = {phi}° the first row is {row}; x' = x needs (1, 0, 0)",
                    phi=phi,
                    row=_fmt(m[0]),
                ),
            )
        want = torch.tensor([t, 1.0, 0.0], dtype=torch.float64)
        if not torch.allclose(m[1], want, atol=1e-5):
            problems.setdefault(
                "y sheared by tan(phi)",
                say(
                    "for phi = {phi}° the second row is {row}; {expected} (y' = y + x tan(phi), phi in "
                    "degrees)",
                    phi=phi,
                    row=_fmt(m[1]),
                    expected=_expected(say("expected {want}", want=_fmt(want)), reveal),
                ),
            )
    return problems


def _corner_cases(rng: random.Random | None) -> list[tuple[float, int]]:
    if rng is None:
        return [(30.0, 32)]
    return [(round(rng.uniform(-80, 80), 1), 2 * rng.randint(4, 48)) for _ in range(3)]


@_register(
    "2.2",
    "rotation about a corner",
    "derive-and-code",
    answer="function",
    parts=(Part("the corner stays fixed"), Part("the turn is right")),
    cases=_corner_cases,
    probe=_call,
)
def _judge_about_corner(cases, outputs, *, reveal, reference) -> dict[str, str]:
    import torch

    from .augment import apply_to_points, rotation, translation

    problems: dict[str, str] = {}
    for (deg, size), out in zip(cases, outputs):
        m = _tensor(out, say("your matrix"))
        if m.shape != (3, 3):
            why = say(
                "your matrix has shape {shape}; expected 3x3", shape=tuple(m.shape)
            )
            return {"the corner stays fixed": why, "the turn is right": why}
        h = size / 2
        corner = torch.tensor([[-h, -h]], dtype=torch.float64)
        want = (translation(-h, -h) @ rotation(deg) @ translation(h, h)).double()
        moved = apply_to_points(m, corner)
        swapped = (translation(h, h) @ rotation(deg) @ translation(-h, -h)).double()
        if not torch.allclose(moved, corner, atol=1e-4):
            hint = (
                say(
                    "the translations are swapped. The first step (rightmost factor) moves the corner "
                    "to the origin"
                )
                if torch.allclose(m, swapped, atol=1e-4)
                else say("move the corner to the origin, rotate, move it back")
            )
            problems.setdefault(
                "the corner stays fixed",
                say(
                    "for {deg}° on a {size}x{size} image the top-left corner ({x:g}, {y:g}) moves to "
                    "{moved}: {hint}",
                    deg=deg,
                    size=size,
                    x=-h,
                    y=-h,
                    moved=_fmt(moved[0]),
                    hint=hint,
                ),
            )
        if not torch.allclose(m[:2, :2], want[:2, :2], atol=1e-4):
            problems.setdefault(
                "the turn is right",
                say(
                    "for {deg}° the rotation part is {part}; {expected} (use rotation({deg}), "
                    "counter-clockwise)",
                    deg=deg,
                    part=_fmt(m[:2, :2]),
                    expected=_expected(
                        say("expected {want}", want=_fmt(want[:2, :2])), reveal
                    ),
                ),
            )
    return problems


def _outside_fraction(degrees: float, size: int = 32) -> float:
    import torch

    from .augment import rotation, warp

    ones = torch.ones(1, 1, size, size)
    return float(
        (warp(ones, rotation(degrees), padding_mode="zeros") < 0.5).float().mean()
    )


def _border_cases(rng: random.Random | None) -> list[tuple[float]]:
    if rng is None:
        return [(10.0,), (45.0,)]
    return [(round(rng.uniform(3, 15), 1),), (round(rng.uniform(25, 70), 1),)]


@_register(
    "2.3",
    "predict, then measure: how much of a rotated image is border",
    "run-and-interpret",
    answer="function",
    parts=(Part("small rotation"), Part("large rotation")),
    cases=_border_cases,
    probe=_call,
    library=("tlbook.exercises:_outside_fraction",),
    written=(
        Written(
            "2.3 prediction",
            "Before you measure: what fraction of the image do you expect to be border after a 10° "
            "rotation? After 45°?",
            before=True,
        ),
        Written(
            "2.3 why",
            "What does the border teach the network, and why does the book's recipe prefer flips and crops?",
        ),
    ),
)
def _judge_outside(cases, outputs, *, reveal, reference) -> dict[str, str]:
    problems: dict[str, str] = {}
    for part, (deg,), got in zip(("small rotation", "large rotation"), cases, outputs):
        want = _outside_fraction(deg)
        if not isinstance(got, (int, float)) or abs(float(got) - want) > 0.02:
            problems[part] = say(
                "at {deg:g}° you measure {got!r} of the output outside the input; {expected}: warp a "
                "32x32 image of ones with rotation(deg) and padding_mode='zeros', then count the pixels "
                "below 0.5",
                deg=deg,
                got=got,
                expected=_expected(say("expected about {want:.3f}", want=want), reveal),
            )
    return problems


# --- chapter 3: backbone ----------------------------------------------------------------------------------


def _dense_cases(rng: random.Random | None) -> list[tuple]:
    import torch

    seed, (n, i, o) = (
        (0, (5, 4, 3))
        if rng is None
        else (
            rng.randrange(2**31),
            (rng.randint(2, 9), rng.randint(2, 9), rng.randint(2, 9)),
        )
    )
    g = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(n, i, generator=g),
            torch.randn(o, i, generator=g),
            torch.randn(o, generator=g),
        )
    ]


@_register(
    "3.1",
    "a dense layer with ReLU, f(x; W) = max(0, Wx + b)",
    "derive-and-code",
    answer="function",
    parts=(Part("shape (N, out)"), Part("ReLU"), Part("values")),
    cases=_dense_cases,
    probe=_call,
)
def _judge_dense(cases, outputs, *, reveal, reference) -> dict[str, str]:
    import torch

    (x, w, b), out = cases[0], _tensor(outputs[0], say("your output"))
    want = torch.relu(x @ w.T + b).double()
    if out.shape != want.shape:
        why = say(
            "for x of shape {x} and W of shape {w} your output has shape {got}; it should be {want}: "
            "one row per image, x @ W.T + b",
            x=tuple(x.shape),
            w=tuple(w.shape),
            got=tuple(out.shape),
            want=tuple(want.shape),
        )
        return {"shape (N, out)": why, "ReLU": why, "values": why}
    problems: dict[str, str] = {}
    if (out < 0).any():
        problems["ReLU"] = say(
            "your output has negative values: apply max(0, .), the ReLU, after Wx + b"
        )
    if torch.allclose(out, torch.relu(x @ w.T).double(), atol=1e-5):
        problems["values"] = say("your output ignores the bias b")
    elif not torch.allclose(out, want, atol=1e-5):
        problems["values"] = say(
            "first row {row}; {expected}",
            row=_fmt(out[0]),
            expected=_expected(say("expected {want}", want=_fmt(want[0])), reveal),
        )
    return problems


_CONV_PUBLIC = [
    (32, 3, 1, 1, "a 'same' 3x3 convolution"),
    (224, 7, 2, 3, "the ResNet stem"),
    (112, 3, 2, 1, "the max-pool after the stem"),
    (7, 3, 2, 0, "no padding, stride 2"),
]


def _conv_cases(rng: random.Random | None) -> list[tuple]:
    if rng is None:
        return [c[:4] for c in _CONV_PUBLIC]
    cases = []
    for stride in (1, 1, 2, 3, rng.randint(2, 4)):
        k = rng.choice((1, 3, 5, 7))
        cases.append((rng.randint(k, 300), k, stride, rng.randint(0, k // 2)))
    return cases


@_register(
    "3.2",
    "output size of a convolution",
    "derive-and-code",
    answer="function",
    parts=(Part("stride 1"), Part("stride > 1")),
    cases=_conv_cases,
    probe=_call,
)
def _judge_conv_size(cases, outputs, *, reveal, reference) -> dict[str, str]:
    names = {c[:4]: c[4] for c in _CONV_PUBLIC}
    problems: dict[str, str] = {}
    for (n, k, s, p), got in zip(cases, outputs):
        want = (n + 2 * p - k) // s + 1
        part = "stride 1" if s == 1 else "stride > 1"
        if got != want and part not in problems:
            expected = (
                say(
                    "expected {want} ({what})",
                    want=want,
                    what=label(names[(n, k, s, p)]),
                )
                if (n, k, s, p) in names
                else say("expected {want}", want=want)
            )
            problems[part] = say(
                "for n={n}, kernel={k}, stride={s}, padding={p} you return {got}; {expected}: use "
                "(n + 2*padding - kernel) // stride + 1",
                n=n,
                k=k,
                s=s,
                p=p,
                got=got,
                expected=_expected(expected, reveal),
            )
    return problems


_BRANCHES: dict[str, Callable[[Any], Any]] = {
    "zeros": lambda t: t * 0,
    "minus": lambda t: -t,
    "double": lambda t: 2 * t,
}
_BRANCH_FORMULAS = {
    "zeros": "0",
    "minus": "-x",
    "double": "2x",
}  # each branch as the feedback writes f(x)


def _residual_cases(rng: random.Random | None) -> list[tuple]:
    import torch

    if rng is None:
        x = torch.tensor([[1.0, -2.0, 3.0]])
        return [(x, "zeros"), (x, "minus")]
    g = torch.Generator().manual_seed(rng.randrange(2**31))
    x = torch.randn(rng.randint(1, 4), rng.randint(2, 6), generator=g)
    return [(x, "zeros"), (x, "minus"), (x, "double")]


@_register(
    "3.3",
    "a residual connection",
    "derive-and-code",
    answer="function",
    parts=(Part("identity when the branch is zero"), Part("ReLU of the sum")),
    cases=_residual_cases,
    probe=lambda answer, case: answer(case[0].clone(), _BRANCHES[case[1]]),
    written=(
        Written(
            "3.3 why",
            "Why does a block whose branch outputs zeros pass its input (after the ReLU) through "
            "unchanged, and why does that make very deep networks trainable?",
        ),
    ),
)
def _judge_residual(cases, outputs, *, reveal, reference) -> dict[str, str]:
    import torch

    problems: dict[str, str] = {}
    for (x, branch), out in zip(cases, outputs):
        got = _tensor(out, say("your output"))
        want = torch.relu(x + _BRANCHES[branch](x)).double()
        if got.shape != want.shape or not torch.allclose(got, want, atol=1e-6):
            if branch == "zeros":
                problems["identity when the branch is zero"] = say(
                    "with a branch that outputs zeros your block gives {got}; {expected}: the block "
                    "adds x back before the ReLU, so it can start as the identity",
                    got=_fmt(got),
                    expected=_expected(
                        say("expected relu(x) = {want}", want=_fmt(want)), reveal
                    ),
                )
            else:
                problems.setdefault(
                    "ReLU of the sum",
                    say(
                        "with the branch f(x) = {branch} your block gives {got}; {expected}",
                        branch=_BRANCH_FORMULAS[branch],
                        got=_fmt(got),
                        expected=_expected(
                            say("expected relu(x + f(x)) = {want}", want=_fmt(want)),
                            reveal,
                        ),
                    ),
                )
    return problems


# --- chapter 4: cross-entropy fine-tuning -----------------------------------------------------------------


def _smoothing_cases(rng: random.Random | None) -> list[tuple]:
    import torch

    if rng is None:
        g = torch.Generator().manual_seed(1)
        z = torch.randn(4, 5, generator=g, dtype=torch.float64)
        y = torch.tensor([0, 3, 1, 4])
        return [(z, y, 0.0), (z, y, 0.1)]
    g = torch.Generator().manual_seed(rng.randrange(2**31))
    n, k = rng.randint(2, 8), rng.randint(2, 9)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, k, (n,), generator=g)
    return [(z, y, 0.0), (z, y, round(rng.uniform(0.05, 0.3), 3))]


def _smoothed_grad(z: Any, y: Any, eps: float) -> Any:
    import torch.nn.functional as F

    zz = z.clone().requires_grad_(True)
    F.cross_entropy(zz, y, label_smoothing=eps).backward()
    return zz.grad


@_register(
    "4.1",
    "gradient of the label-smoothed cross-entropy",
    "derive-and-code",
    answer="function",
    parts=(Part("no smoothing", 2), Part("with smoothing")),
    cases=_smoothing_cases,
    probe=lambda answer, case: answer(case[0].clone(), case[1].clone(), case[2]),
    library=("tlbook.losses:cross_entropy_grad",),
)
def _judge_smoothed_grad(cases, outputs, *, reveal, reference) -> dict[str, str]:
    import torch
    import torch.nn.functional as F

    problems: dict[str, str] = {}
    for (z, y, eps), out in zip(cases, outputs):
        part = "no smoothing" if eps == 0 else "with smoothing"
        got, want = _tensor(out, say("your gradient")), _smoothed_grad(z, y, eps)
        if got.shape != want.shape:
            problems[part] = say(
                "your gradient has shape {got}; it should be {want}, one row per image",
                got=tuple(got.shape),
                want=tuple(want.shape),
            )
        elif torch.allclose(got, want * len(y), atol=1e-6):
            problems[part] = say(
                "your gradient is N times too large: the loss is a batch *mean*, so divide by N"
            )
        elif eps > 0 and torch.allclose(
            got, (z.softmax(1) - F.one_hot(y, z.shape[1])) / len(y), atol=1e-6
        ):
            problems[part] = say(
                "with smoothing {eps} your gradient equals the unsmoothed one: the target is "
                "(1 - eps) * onehot + eps / K, not onehot",
                eps=eps,
            )
        elif not torch.allclose(got, want, atol=1e-6):
            problems[part] = say(
                "with smoothing {eps} the first row is {row}; {expected}",
                eps=eps,
                row=_fmt(got[0]),
                expected=_expected(
                    say("autograd says {want}", want=_fmt(want[0])), reveal
                ),
            )
    return problems


def _logit_cases(rng: random.Random | None) -> list[tuple]:
    import torch

    if rng is None:
        return [(torch.tensor([3.0, 3.0, -2.0]), 0)]
    k = rng.randint(3, 6)
    z = torch.tensor([round(rng.uniform(-4, 4), 1) for _ in range(k)])
    return [(z, rng.randrange(k))]


def _two_losses(z: Any, y: int) -> tuple[float, float]:
    import torch
    import torch.nn.functional as F

    target = F.one_hot(torch.tensor(y), len(z)).float()
    return (
        float(-z.log_softmax(0)[y]),
        float(F.binary_cross_entropy_with_logits(z, target, reduction="sum")),
    )


@_register(
    "4.2",
    "binary or categorical: both losses by hand",
    "derive-and-code",
    answer="function",
    parts=(Part("categorical"), Part("binary")),
    cases=_logit_cases,
    probe=lambda answer, case: answer(case[0].clone(), case[1]),
    library=("tlbook.losses:cross_entropy", "tlbook.losses:one_vs_rest_bce"),
    written=(
        Written(
            "4.2 why",
            "Which loss is larger? Which of the binary sum's terms carries most of it, and why does the "
            "categorical loss charge the tie between the two 3s only about ln 2?",
        ),
    ),
)
def _judge_two_losses(cases, outputs, *, reveal, reference) -> dict[str, str]:
    (z, y), answer = cases[0], outputs[0]
    form = say(
        "answer with a dict {{'categorical': ..., 'binary': ...}} of two numbers"
    )
    if not isinstance(answer, dict) or set(answer) != {"categorical", "binary"}:
        return {"categorical": form, "binary": form}
    categorical, binary = _two_losses(z, y)
    problems: dict[str, str] = {}
    got_c, got_b = answer["categorical"], answer["binary"]
    if not isinstance(got_c, (int, float)) or not math.isclose(
        got_c, categorical, abs_tol=0.01
    ):
        problems["categorical"] = say(
            "for z = {z} and class {y} you have {got!r}; {expected}, -log softmax(z)_{y}",
            z=_fmt(z),
            y=y,
            got=got_c,
            expected=_expected(say("expected {want:.3f}", want=categorical), reveal),
        )
    if not isinstance(got_b, (int, float)) or not math.isclose(
        got_b, binary, abs_tol=0.01
    ):
        mean = isinstance(got_b, (int, float)) and math.isclose(
            got_b, binary / len(z), abs_tol=0.01
        )
        problems["binary"] = say(
            "for z = {z} and class {y} you have {got!r}; {expected}, the sum over the classes of "
            "-[t log s(z) + (1 - t) log(1 - s(z))] with t the one-hot target{hint}",
            z=_fmt(z),
            y=y,
            got=got_b,
            expected=_expected(say("expected {want:.3f}", want=binary), reveal),
            hint=say(" (you averaged over the classes; sum the terms)") if mean else "",
        )
    return problems


def _bn_cases(rng: random.Random | None) -> list[list[bool]]:
    """Which (conv, BatchNorm) blocks are frozen; at least one frozen and one trainable BatchNorm."""
    if rng is None:
        return [[True, False]]
    n = rng.randint(2, 5)
    frozen = [rng.random() < 0.5 for _ in range(n)]
    i, j = rng.sample(range(n), 2)
    frozen[i], frozen[j] = True, False
    return [frozen]


def _bn_model(frozen: list[bool]) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(len(frozen))
    layers: list[nn.Module] = []
    for i, f in enumerate(frozen):
        block = [nn.Conv2d(3 if i == 0 else 4, 4, 3, padding=1), nn.BatchNorm2d(4)]
        for m in block:
            m.requires_grad_(not f)
        layers += [*block, nn.ReLU()]
    return nn.Sequential(*layers).eval()


def _probe_train_mode(answer: Any, frozen: list[bool]) -> dict[str, list[bool]]:
    import torch
    from torch import nn

    model = _bn_model(frozen)
    answer(model)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    before = [m.running_mean.clone() for m in norms]  # type: ignore[union-attr]
    with torch.no_grad():
        model(torch.randn(8, 3, 8, 8) * 3 + 1)
    return {
        "conv_training": [m.training for m in convs],
        "bn_training": [m.training for m in norms],
        "bn_moved": [
            not torch.equal(b, m.running_mean)  # type: ignore[arg-type]
            for b, m in zip(before, norms)
        ],
    }


@_register(
    "4.3",
    "train mode without moving frozen BatchNorm statistics",
    "derive-and-code",
    answer="function",
    parts=(
        Part("trainable layers train"),
        Part("frozen BatchNorm in eval"),
        Part("statistics kept"),
    ),
    cases=_bn_cases,
    probe=_probe_train_mode,
    library=("tlbook.backbones:set_bn_eval",),
    written=(
        Written(
            "4.3 prediction",
            "Before you run the check: which layers of its small model stay in training mode, and what "
            "would happen to the running statistics otherwise?",
            before=True,
        ),
    ),
)
def _judge_train_mode(cases, outputs, *, reveal, reference) -> dict[str, str]:
    frozen, out = cases[0], outputs[0]
    problems: dict[str, str] = {}
    for i, f in enumerate(frozen):
        if not f and not (out["conv_training"][i] and out["bn_training"][i]):
            problems.setdefault(
                "trainable layers train",
                say(
                    "block {i} is trainable but not in training mode: call model.train() first",
                    i=i,
                ),
            )
        if f and out["bn_training"][i]:
            problems.setdefault(
                "frozen BatchNorm in eval",
                say(
                    "the frozen BatchNorm layer of block {i} is in training mode: its running "
                    "statistics will drift; put every BatchNorm layer whose parameters are all frozen "
                    "back into eval()",
                    i=i,
                ),
            )
        if f and out["bn_moved"][i]:
            problems.setdefault(
                "statistics kept",
                say(
                    "a forward pass moved the running mean of block {i}'s frozen BatchNorm",
                    i=i,
                ),
            )
    return problems


# --- chapter 5: evaluation --------------------------------------------------------------------------------


def _wilson_cases(rng: random.Random | None) -> list[tuple[int, int]]:
    if rng is None:
        return [(707, 1000), (3, 10), (0, 20), (50, 50)]
    n1, n2 = rng.randint(5, 3000), rng.randint(5, 200)
    return [
        (rng.randint(1, n1 - 1), n1),
        (rng.randint(1, n2 - 1), n2),
        (0, rng.randint(5, 500)),
        ((n := rng.randint(5, 500)), n),
    ]


@_register(
    "5.1",
    "the Wilson score interval",
    "derive-and-code",
    answer="function",
    parts=(Part("between 0 and n correct"), Part("none or all correct")),
    cases=_wilson_cases,
    probe=lambda answer, case: [float(v) for v in answer(*case)],
    library=("tlbook.evaluation:wilson_interval",),
    written=(
        Written(
            "5.1 why",
            "What does the plain normal interval give for 0 correct out of 20, and why is that absurd?",
        ),
    ),
)
def _judge_wilson(cases, outputs, *, reveal, reference) -> dict[str, str]:
    from .evaluation import wilson_interval

    problems: dict[str, str] = {}
    for (k, n), out in zip(cases, outputs):
        part = "none or all correct" if k in (0, n) else "between 0 and n correct"
        lo, hi = out
        want = wilson_interval(k, n)
        if math.isclose(lo, want[0], abs_tol=1e-4) and math.isclose(
            hi, want[1], abs_tol=1e-4
        ):
            continue
        p = k / n
        wald_lo = p - 1.96 * math.sqrt(p * (1 - p) / n)
        hint = (
            say(
                " That is the normal (Wald) interval p ± z·sqrt(p(1-p)/n); Wilson's centre moves "
                "towards 1/2 and its width has an extra z²/4n² term."
            )
            if math.isclose(lo, wald_lo, abs_tol=1e-4)
            else ""
        )
        problems.setdefault(
            part,
            say(
                "for {k} correct of {n} you return ({lo:.4f}, {hi:.4f}); {expected}.{hint}",
                k=k,
                n=n,
                lo=lo,
                hi=hi,
                expected=_expected(
                    say(
                        "expected ({lo:.4f}, {hi:.4f})",
                        lo=want[0] + 0.0,
                        hi=want[1] + 0.0,
                    ),
                    reveal,
                ),
                hint=hint,
            ),
        )
    return problems


def _confusion_cases(rng: random.Random | None) -> list[Any]:
    import torch

    if rng is None:
        return [torch.tensor([[8, 2, 0], [1, 6, 3], [0, 0, 10]])]
    k = rng.randint(2, 6)
    c = torch.tensor([[rng.randint(0, 9) for _ in range(k)] for _ in range(k)])
    return [c + torch.diag(torch.tensor([rng.randint(1, 20) for _ in range(k)]))]


@_register(
    "5.2",
    "precision and recall from a confusion matrix",
    "derive-and-code",
    answer="function",
    parts=(Part("precision"), Part("recall")),
    cases=_confusion_cases,
    probe=lambda answer, case: [plain(v) for v in answer(case.clone())],
    library=("tlbook.evaluation:per_class_scores",),
)
def _judge_precision_recall(cases, outputs, *, reveal, reference) -> dict[str, str]:
    import torch

    c = cases[0].double()
    precision, recall = (_tensor(v, say("your result")) for v in outputs[0])
    want_p, want_r = c.diag() / c.sum(0), c.diag() / c.sum(1)
    if (
        precision.shape == want_r.shape
        and torch.allclose(precision, want_r, atol=1e-4)
        and not torch.allclose(want_p, want_r, atol=1e-4)
    ):
        why = say(
            "precision and recall are swapped: rows are true classes, so recall divides by row sums "
            "and precision by column sums"
        )
        return {"precision": why, "recall": why}
    problems: dict[str, str] = {}
    if precision.shape != want_p.shape or not torch.allclose(
        precision, want_p, atol=1e-4
    ):
        problems["precision"] = say(
            "precision {got}; {expected}: correct / predicted as that class (column sums)",
            got=_fmt(precision),
            expected=_expected(say("expected {want}", want=_fmt(want_p)), reveal),
        )
    if recall.shape != want_r.shape or not torch.allclose(recall, want_r, atol=1e-4):
        problems["recall"] = say(
            "recall {got}; {expected}: correct / images of that class (row sums)",
            got=_fmt(recall),
            expected=_expected(say("expected {want}", want=_fmt(want_r)), reveal),
        )
    return problems


def _measure_temperature(cfg: Any) -> dict[str, float]:
    """The grader's own run of exercise 5.3's experiment (the solution's), in ``cfg``'s preset."""
    from .evaluation import expected_calibration_error, fit_temperature
    from .experiment import load_data, run
    from .train import predict_logits

    _, val_set, test_set = load_data(cfg)
    result = run(cfg, strategy="probe")
    model = result.model.eval()
    val_z = predict_logits(model, val_set.images, preprocessing=result.preprocessing)
    test_z = predict_logits(model, test_set.images, preprocessing=result.preprocessing)
    t = fit_temperature(val_z, val_set.labels)
    return {
        "ece_before": expected_calibration_error(
            test_z.softmax(dim=1), test_set.labels
        ),
        "ece_after": expected_calibration_error(
            (test_z / t).softmax(dim=1), test_set.labels
        ),
    }


@_register(
    "5.3",
    "predict, then measure: what temperature scaling changes",
    "run-and-interpret",
    answer="data",
    parts=(Part("accuracy"), Part("ECE before"), Part("ECE after")),
    cases=lambda rng: [None],
    measure=_measure_temperature,
    written=(
        Written(
            "5.3 prediction",
            "Before you measure: does temperature scaling change the accuracy? The ECE? Why?",
            before=True,
        ),
    ),
)
def _judge_temperature(cases, outputs, *, reveal, reference) -> dict[str, str]:
    answer = outputs[0]
    if not isinstance(answer, dict) or set(answer) != {
        "accuracy_changes",
        "ece_before",
        "ece_after",
    }:
        form = say(
            "answer with a dict {{'accuracy_changes': True or False, 'ece_before': ..., "
            "'ece_after': ...}}"
        )
        return {"accuracy": form, "ECE before": form, "ECE after": form}
    problems: dict[str, str] = {}
    if answer["accuracy_changes"] is not False:
        problems["accuracy"] = say(
            "dividing every logit of an image by the same T > 0 keeps their order, so the predicted "
            "class and the accuracy cannot change; 'accuracy_changes' should be False"
        )
    for key, part in (("ece_before", "ECE before"), ("ece_after", "ECE after")):
        p = _measured(answer[key], key, reference, reveal)
        if p:
            problems[part] = p
    return problems


# --- chapter 6: outlook -----------------------------------------------------------------------------------


def _curve_cases(rng: random.Random | None) -> list[tuple]:
    if rng is None:
        rows = [
            {
                "strategy": s,
                "per_class": k,
                "seed": seed,
                "test_accuracy": a + 0.02 * seed,
            }
            for s, accs in (
                ("finetune", (0.30, 0.45, 0.60)),
                ("scratch", (0.12, 0.20, 0.30)),
            )
            for k, a in zip((5, 25, 100), accs)
            for seed in (0, 1, 2)
        ]
        return [
            (rows, s, t)
            for s, t in (
                ("finetune", 0.45),
                ("finetune", 0.5),
                ("scratch", 0.3),
                ("scratch", 0.9),
            )
        ]
    sizes = sorted(rng.sample((2, 5, 10, 25, 50, 100, 250, 500), rng.randint(3, 5)))
    rows = []
    for s in ("finetune", "scratch", "linear"):
        base = rng.uniform(0.1, 0.4)
        for j, k in enumerate(sizes):
            for seed in range(rng.randint(2, 4)):
                acc = min(1.0, base + 0.1 * j + rng.uniform(-0.05, 0.05))
                rows.append(
                    {
                        "strategy": s,
                        "per_class": k,
                        "seed": seed,
                        "test_accuracy": round(acc, 4),
                    }
                )
    rng.shuffle(rows)
    return [
        (rows, s, round(rng.uniform(0.1, 0.8), 3))
        for s in ("finetune", "scratch", "linear")
    ] + [(rows, "scratch", 0.99)]


@_register(
    "6.1",
    "how much data? read it off the curve",
    "derive-and-code",
    answer="function",
    parts=(Part("targets reached"), Part("targets out of reach")),
    cases=_curve_cases,
    probe=lambda answer, case: answer([dict(r) for r in case[0]], case[1], case[2]),
    library=("tlbook.studies:images_needed", "tlbook.studies:curve_means"),
    written=(
        Written(
            "6.1 why",
            "How many images per class does the network from scratch need to match fine-tuning with 5?",
        ),
    ),
)
def _judge_images_needed(cases, outputs, *, reveal, reference) -> dict[str, str]:
    from .studies import images_needed

    problems: dict[str, str] = {}
    for (rows, strategy, target), got in zip(cases, outputs):
        want = images_needed(rows, strategy, target)
        part = "targets reached" if want is not None else "targets out of reach"
        if got != want:
            problems.setdefault(
                part,
                say(
                    "for {strategy} and target {target:.2f} you return {got!r}; {expected}: the "
                    "smallest images per class whose *mean* accuracy over seeds reaches the target, "
                    "or None if none does",
                    strategy=strategy,
                    target=target,
                    got=got,
                    expected=_expected(say("expected {want}", want=want), reveal),
                ),
            )
    return problems


_FAQ = {
    "Transfer learning always improves accuracy.": (
        False,
        "it can fail to help, or cost accuracy: chapter 3's probe loses points with "
        "preprocessing that does not match the weights, chapter 4's linear probe loses many with BatchNorm left "
        "in training mode, and target images unlike the source's shrink the gain (chapter 1)",
    ),
    "In this book's linear probe, leaving a frozen backbone's BatchNorm in training mode cost accuracy.": (
        True,
        "its running statistics drift and the features change under the head (chapter 4's BatchNorm "
        "trap). That is one measured setting, not a law: fastai trains BatchNorm in frozen models, and AdaBN "
        "re-estimates the statistics on target images on purpose",
    ),
    "Fine-tuning from ImageNet needs thousands of labels per class.": (
        False,
        "chapter 5's curve reaches several times chance with 5 labelled images per class",
    ),
    "Transfer learning is a computer-vision technique only.": (
        False,
        "the idea is general: pretrained language and speech models are fine-tuned the same "
        "way, and ImageNet backbones themselves are fine-tuned on spectrograms and medical scans, not only on "
        "photographs",
    ),
}


@_register(
    "6.2",
    "FAQ: true or false, with the book's evidence",
    "run-and-interpret",
    answer="data",
    parts=tuple(Part(f"statement {i + 1}") for i in range(len(_FAQ))),
    cases=lambda rng: [None],
)
def _judge_faq(cases, outputs, *, reveal, reference) -> dict[str, str]:
    answer = outputs[0]
    if not isinstance(answer, dict):
        why = say("answer with a dict mapping each statement to True or False")
        return {f"statement {i + 1}": why for i in range(len(_FAQ))}
    problems: dict[str, str] = {}
    for i, (statement, (truth, why)) in enumerate(_FAQ.items()):
        if statement not in answer:
            problems[f"statement {i + 1}"] = say(
                "missing: {statement!r}", statement=statement
            )
        elif answer[statement] is not truth:
            problems[f"statement {i + 1}"] = (
                say(
                    "{statement!r} is {truth}: {why}",
                    statement=statement,
                    truth=truth,
                    why=label(why),
                )
                if reveal
                else say(
                    "{statement!r}: not what the book measured", statement=statement
                )
            )
    return problems


@_register(
    "6.3",
    "bring your own images: fine-tune on a folder",
    "open-ended",
    answer="folder",
    parts=(Part("a run on your folder"), Part("your own images")),
    cases=lambda rng: [None],
    written=(
        Written(
            "6.3 why",
            "Look at the mistakes: are they the images you would have found hard? What would you change?",
        ),
    ),
)
def _judge_own_run(cases, outputs, *, reveal, reference) -> dict[str, str]:
    out = outputs[0]
    if not isinstance(out, dict) or out.get("run") != "RunResult":
        got = out.get("run") if isinstance(out, dict) else type(out).__name__
        why = say(
            "answer with a dict {{'folder': your folder, 'result': what run(...) returned}}"
        ) + (say("; 'result' is a {got}, not a RunResult", got=got) if got else "")
        return {"a run on your folder": why, "your own images": why}
    problems = _judge_folder(
        out["folder"], folder_part="a run on your folder", own_part="your own images"
    )
    classes = sorted(c for c, n in out["folder"].get("classes", {}).items() if n > 0)
    if "a run on your folder" not in problems and sorted(out["classes"]) != classes:
        problems["a run on your folder"] = say(
            "the run's classes ({run}) are not the folder's ({folder}): train on the folder you hand in",
            run=", ".join(out["classes"]),
            folder=", ".join(classes),
        )
    elif reveal and not problems:
        chance = 1 / max(1, len(classes))
        print(
            say(
                "  {count} classes: test accuracy {accuracy:.1%} (chance {chance:.0%})",
                count=len(classes),
                accuracy=out["accuracy"],
                chance=chance,
            )
        )
    return problems


def hand_in_form(ex: Exercise, answer: Any) -> Any:
    """What the notebook hands the grader for ``answer``: the function itself, or plain data.

    Exercise 6.3's run is reduced to its folder, classes and accuracy here: the grader reads the folder
    itself (:func:`folder_facts`), so what the notebook claims about it does not count.
    """
    if ex.answer == "function":
        return answer
    if (
        ex.id == "6.3"
        and isinstance(answer, dict)
        and set(answer) == {"folder", "result"}
    ):
        result = answer["result"]
        return {
            "folder": plain(answer["folder"]),
            "classes": list(getattr(getattr(result, "test", None), "classes", [])),
            "accuracy": float(
                getattr(getattr(result, "test", None), "accuracy", float("nan"))
            ),
            "run": type(result).__name__,
        }
    return plain(answer)


def labels() -> set[str]:
    """Every fixed text this module shows through :func:`tlbook.translations.label`.

    The exercises' titles and part names, exercise 6.2's reasons and exercise 3.2's case names;
    ``tests/test_translations.py`` requires each in every language's table.
    """
    texts = {ex.title for ex in EXERCISES.values()}
    texts |= {p.name for ex in EXERCISES.values() for p in ex.parts}
    texts |= {why for _, why in _FAQ.values()}
    return texts | {c[4] for c in _CONV_PUBLIC}
