"""Checks for the exercises at the end of each chapter: ``check("2.1", answer)`` with specific feedback.

Every exercise has an id ``"<chapter>.<number>"``, a title, a kind
(``derive-and-code``, ``run-and-interpret`` or ``open-ended``) and a check
function that returns a list of problems (empty when the answer passes).
:func:`check` prints the feedback in the notebook and returns ``True`` or
``False``; it never raises, so one unfinished exercise does not stop the
others. A stub that still raises ``NotImplementedError`` is reported as "not
attempted yet".

When the environment variable ``TLBOOK_CHECK_LOG`` names a file, every check
also appends one JSON line ``{"exercise", "passed", "feedback"}`` to it: the
class grader (:mod:`tlbook.grading`) reads it.

>>> check("3.2", lambda n, kernel, stride, padding: (n + 2 * padding - kernel) // stride + 1)
✓ Exercise 3.2 passed: output size of a convolution
True
>>> check("3.2", lambda n, kernel, stride, padding: n - kernel + 1)
✗ Exercise 3.2 (output size of a convolution) not passed yet:
  - for n=224, kernel=7, stride=2, padding=3 you return 218; expected 112 (the ResNet stem): use (n + 2*padding - kernel) // stride + 1
False
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .grading import CHECK_LOG_ENV, check_log_path

__all__ = ["Exercise", "EXERCISES", "check", "exercises_of", "CHECK_LOG_ENV"]

KINDS = ("derive-and-code", "run-and-interpret", "open-ended")


@dataclass(frozen=True)
class Exercise:
    """One exercise: what it is and how an answer is checked."""

    id: str  # "<chapter>.<number>", e.g. "2.1"
    title: str
    kind: str  # one of KINDS
    check: Callable[[Any], list[str]]  # problems with the answer; [] = passed

    @property
    def chapter(self) -> int:
        return int(self.id.split(".")[0])


EXERCISES: dict[str, Exercise] = {}


def _exercise(
    id: str, title: str, kind: str
) -> Callable[[Callable[[Any], list[str]]], Callable[[Any], list[str]]]:
    assert kind in KINDS, kind

    def register(fn: Callable[[Any], list[str]]) -> Callable[[Any], list[str]]:
        EXERCISES[id] = Exercise(id, title, kind, fn)
        return fn

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


def check(exercise: str, answer: Any) -> bool:
    """Check ``answer`` to ``exercise`` (e.g. ``"2.1"``); print specific feedback; return whether it passed."""
    if exercise not in EXERCISES:
        known = ", ".join(EXERCISES)
        print(f"✗ There is no exercise {exercise!r}; known exercises: {known}")
        return False
    ex = EXERCISES[exercise]
    unanswered = (
        [k for k, v in answer.items() if v is Ellipsis]
        if isinstance(answer, dict)
        else []
    )
    if answer is None or answer is Ellipsis:
        problems = ["not attempted yet: replace the ... (or None) with your answer"]
    elif unanswered:
        problems = [
            f"not attempted yet: fill in {', '.join(map(str, unanswered))} (still ...)"
        ]
    else:
        try:
            problems = ex.check(answer)
        except NotImplementedError:
            problems = [
                "not attempted yet: your function still raises NotImplementedError; replace that line"
            ]
        except Exception as e:  # the student's code failed inside the check: say where, not just "wrong"
            problems = [f"your code raised {type(e).__name__}: {e}"]
    passed = not problems
    if passed:
        print(f"✓ Exercise {ex.id} passed: {ex.title}")
    else:
        print(
            f"✗ Exercise {ex.id} ({ex.title}) not passed yet:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    log = check_log_path()
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(
                json.dumps(
                    {
                        "exercise": ex.id,
                        "passed": passed,
                        "feedback": "; ".join(problems),
                    }
                )
                + "\n"
            )
    return passed


def _fmt(t: torch.Tensor | float) -> str:
    if isinstance(t, torch.Tensor):
        return "(" + ", ".join(f"{float(v):.2f}" for v in t.flatten()) + ")"
    return f"{t:.4g}"


def _as_tensor(x: Any, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except Exception:
            raise TypeError(
                f"{what} should be a tensor, got {type(x).__name__}"
            ) from None
    return x.detach().double()


def _is_fraction(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0


# --- chapter 1: concepts ----------------------------------------------------------------------------------


@_exercise("1.1", "parameters of a new head", "derive-and-code")
def _check_head_parameters(fn: Callable[[int, int], int]) -> list[str]:
    for d, k in ((1280, 10), (512, 10), (2048, 1000), (7, 3)):
        got, want = fn(d, k), d * k + k
        if got != want:
            hint = " (you forgot the bias: one per class)" if got == d * k else ""
            return [
                f"for {d} features and {k} classes you return {got}; expected {want}: a weight for every "
                f"(feature, class) pair plus one bias per class{hint}"
            ]
    return []


@_exercise(
    "1.2",
    "predict, then measure: pretrained versus scratch on few labels",
    "run-and-interpret",
)
def _check_prediction(answer: dict) -> list[str]:
    if not isinstance(answer, dict) or set(answer) != {
        "prediction",
        "pretrained",
        "scratch",
    }:
        return [
            "answer with a dict {'prediction': 'pretrained' or 'scratch', 'pretrained': accuracy, "
            "'scratch': accuracy}"
        ]
    problems = []
    if answer["prediction"] not in ("pretrained", "scratch"):
        problems.append(
            f"prediction is {answer['prediction']!r}; write 'pretrained' or 'scratch' (before you run)"
        )
    for name in ("pretrained", "scratch"):
        if not _is_fraction(answer[name]):
            value = answer[name]
            hint = (
                " (give a fraction such as 0.45, not a percentage)"
                if isinstance(value, (int, float)) and value > 1
                else ""
            )
            problems.append(
                f"{name} accuracy is {value!r}; expected the measured test accuracy, a number in [0, 1]{hint}"
            )
    if not problems:
        winner = "pretrained" if answer["pretrained"] > answer["scratch"] else "scratch"
        verdict = (
            "as you predicted"
            if winner == answer["prediction"]
            else "not what you predicted: say why below"
        )
        print(
            f"  measured: pretrained {answer['pretrained']:.1%}, scratch {answer['scratch']:.1%}; {winner} wins, {verdict}"
        )
    return problems


@_exercise("1.3", "bring your own images: a folder of class folders", "open-ended")
def _check_own_folder(folder: str | os.PathLike) -> list[str]:
    from .data import load_image_folder
    from .errors import DataError

    root = Path(folder).expanduser()
    if not root.is_dir():
        return [
            f"{root} is not a folder; point my_folder at a folder with one subfolder of images per class"
        ]
    try:
        data = load_image_folder(root, storage_size=64, max_per_class=None)
    except DataError as e:
        return [str(e)]
    counts = torch.bincount(data.labels, minlength=len(data.classes)).tolist()
    if len(data.classes) < 2:
        return [
            f"{root} has one class ({data.classes[0]}); a classifier needs at least two class folders"
        ]
    print(
        f"  {root.name}: " + ", ".join(f"{c} {n}" for c, n in zip(data.classes, counts))
    )
    return []


# --- chapter 2: augmentation math -------------------------------------------------------------------------


@_exercise("2.1", "a vertical shear matrix", "derive-and-code")
def _check_shear(fn: Callable[[float], torch.Tensor]) -> list[str]:
    from .augment import apply_to_points, shear

    for phi in (20.0, -35.0):
        m = _as_tensor(fn(phi), "your matrix")
        if m.shape != (3, 3):
            return [
                f"your matrix has shape {tuple(m.shape)}; expected a 3x3 homogeneous matrix"
            ]
        if not torch.allclose(m[2], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)):
            return [
                f"the last row is {_fmt(m[2])}; a homogeneous affine matrix ends with (0, 0, 1)"
            ]
        pts = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
        got = apply_to_points(m, pts)
        want = apply_to_points(shear(0.0, phi).double(), pts)
        if not torch.allclose(got, want, atol=1e-5):
            return [
                f"for phi = {phi}° your matrix maps (1, 0) to {_fmt(got[0])} and (0, 1) to {_fmt(got[1])}; "
                f"expected {_fmt(want[0])} and {_fmt(want[1])} (y += x * tan(phi), x unchanged)"
            ]
    return []


@_exercise("2.2", "rotation about a corner", "derive-and-code")
def _check_about_corner(m: torch.Tensor) -> list[str]:
    from .augment import apply_to_points, rotation, translation

    m = _as_tensor(m, "your matrix")
    if m.shape != (3, 3):
        return [f"your matrix has shape {tuple(m.shape)}; expected 3x3"]
    corner = torch.tensor(
        [[-16.0, -16.0]], dtype=torch.float64
    )  # top-left corner of 32x32, centred coordinates
    want_m = (translation(-16, -16) @ rotation(30.0) @ translation(16, 16)).double()
    moved = apply_to_points(m, corner)
    if torch.allclose(
        m,
        (translation(16, 16) @ rotation(30.0) @ translation(-16, -16)).double(),
        atol=1e-4,
    ):
        return [
            f"your matrix moves the corner (-16, -16) to {_fmt(moved[0])}: the translations are swapped. The "
            "corner is at (-16, -16) in centred coordinates, so the first step (rightmost factor) is "
            "translation(16, 16) and the last translation(-16, -16)"
        ]
    if not torch.allclose(moved, corner, atol=1e-4):
        return [
            f"the top-left corner (-16, -16) moves to {_fmt(moved[0])}; a rotation about it must leave it fixed "
            "(move the corner to the origin, rotate, move it back)"
        ]
    if not torch.allclose(m, want_m, atol=1e-4):
        centre = apply_to_points(m, torch.zeros(1, 2, dtype=torch.float64))
        want_c = apply_to_points(want_m, torch.zeros(1, 2, dtype=torch.float64))
        return [
            f"the corner stays put, but the centre goes to {_fmt(centre[0])}; expected {_fmt(want_c[0])} "
            "for 30° counter-clockwise (use rotation(30.0))"
        ]
    return []


def _outside_fraction(degrees: float, size: int = 32) -> float:
    from .augment import rotation, warp

    ones = torch.ones(1, 1, size, size)
    return float(
        (warp(ones, rotation(degrees), padding_mode="zeros") < 0.5).float().mean()
    )


@_exercise(
    "2.3",
    "predict, then measure: how much of a rotated image is border",
    "run-and-interpret",
)
def _check_outside(fn: Callable[[float], float]) -> list[str]:
    for deg in (10.0, 45.0):
        got, want = float(fn(deg)), _outside_fraction(deg)
        if abs(got - want) > 0.02:
            return [
                f"at {deg:g}° you measure {got:.3f} of the output outside the input; expected about {want:.3f}: "
                "warp a 32x32 image of ones with rotation(deg) and padding_mode='zeros', then count the "
                "pixels below 0.5"
            ]
    return []


# --- chapter 3: backbone ----------------------------------------------------------------------------------


@_exercise(
    "3.1", "a dense layer with ReLU, f(x; W) = max(0, Wx + b)", "derive-and-code"
)
def _check_dense(
    fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
) -> list[str]:
    g = torch.Generator().manual_seed(0)
    x, w, b = (
        torch.randn(5, 4, generator=g),
        torch.randn(3, 4, generator=g),
        torch.randn(3, generator=g),
    )
    out = _as_tensor(fn(x, w, b), "your output")
    want = torch.relu(x @ w.T + b).double()
    if out.shape != want.shape:
        return [
            f"for x of shape (5, 4) and W of shape (3, 4) your output has shape {tuple(out.shape)}; expected "
            "(5, 3): one row per image, x @ W.T + b"
        ]
    if (out < 0).any():
        return [
            "your output has negative values: apply max(0, .), the ReLU, after Wx + b"
        ]
    if torch.allclose(out, torch.relu(x @ w.T).double(), atol=1e-5):
        return ["your output ignores the bias b"]
    if not torch.allclose(out, want, atol=1e-5):
        return [f"first row {_fmt(out[0])}; expected {_fmt(want[0])}"]
    return []


@_exercise("3.2", "output size of a convolution", "derive-and-code")
def _check_conv_size(fn: Callable[[int, int, int, int], int]) -> list[str]:
    cases = (
        (224, 7, 2, 3, "the ResNet stem"),
        (32, 3, 1, 1, "a 'same' 3x3 convolution"),
        (112, 3, 2, 1, "the max-pool after the stem"),
        (7, 3, 2, 0, "no padding, stride 2"),
    )
    for n, k, s, p, what in cases:
        got, want = fn(n, k, s, p), (n + 2 * p - k) // s + 1
        if got != want:
            return [
                f"for n={n}, kernel={k}, stride={s}, padding={p} you return {got}; expected {want} ({what}): "
                "use (n + 2*padding - kernel) // stride + 1"
            ]
    return []


@_exercise("3.3", "a residual connection", "derive-and-code")
def _check_residual(
    fn: Callable[[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]], torch.Tensor],
) -> list[str]:
    x = torch.tensor([[1.0, -2.0, 3.0]])
    zero = fn(x, lambda t: torch.zeros_like(t))
    if not torch.allclose(_as_tensor(zero, "your output"), torch.relu(x).double()):
        return [
            f"with a branch that outputs zeros your block gives {_fmt(zero)}; expected relu(x) = "
            f"{_fmt(torch.relu(x))}: the block adds x back before the ReLU, so it can start as the identity"
        ]
    neg = fn(x, lambda t: -t)
    if not torch.allclose(
        _as_tensor(neg, "your output"), torch.zeros(1, 3, dtype=torch.float64)
    ):
        return [
            f"with the branch f(x) = -x your block gives {_fmt(neg)}; expected relu(x + f(x)) = (0, 0, 0)"
        ]
    return []


# --- chapter 4: cross-entropy fine-tuning -----------------------------------------------------------------


@_exercise("4.1", "gradient of the label-smoothed cross-entropy", "derive-and-code")
def _check_smoothed_grad(
    fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor],
) -> list[str]:
    g = torch.Generator().manual_seed(1)
    z, y = (
        torch.randn(4, 5, generator=g, dtype=torch.float64),
        torch.tensor([0, 3, 1, 4]),
    )
    for eps in (0.0, 0.1):
        zz = z.clone().requires_grad_(True)
        F.cross_entropy(zz, y, label_smoothing=eps).backward()
        want = zz.grad
        assert want is not None  # zz requires grad and took part in the loss
        got = _as_tensor(fn(z.clone(), y, eps), "your gradient")
        if got.shape != want.shape:
            return [
                f"your gradient has shape {tuple(got.shape)}; expected {tuple(want.shape)}, one row per image"
            ]
        if torch.allclose(got, want * len(y), atol=1e-6):
            return [
                "your gradient is N times too large: the loss is a batch *mean*, so divide by N"
            ]
        if eps > 0 and torch.allclose(
            got, (z.softmax(1) - F.one_hot(y, 5)) / len(y), atol=1e-6
        ):
            return [
                "with smoothing 0.1 your gradient equals the unsmoothed one: the target is "
                "(1 - eps) * onehot + eps / K, not onehot"
            ]
        if not torch.allclose(got, want, atol=1e-6):
            return [
                f"with smoothing {eps} the first row is {_fmt(got[0])}; autograd says {_fmt(want[0])}"
            ]
    return []


@_exercise("4.2", "binary or categorical: both losses by hand", "derive-and-code")
def _check_two_losses(answer: dict) -> list[str]:
    z, y = torch.tensor([3.0, 3.0, -2.0]), 0
    categorical = float(-z.log_softmax(0)[y])
    target = F.one_hot(torch.tensor(y), 3).float()
    binary = float(F.binary_cross_entropy_with_logits(z, target, reduction="sum"))
    if not isinstance(answer, dict) or set(answer) != {"categorical", "binary"}:
        return ["answer with a dict {'categorical': ..., 'binary': ...} of two numbers"]
    problems = []
    if not math.isclose(answer["categorical"], categorical, abs_tol=0.01):
        problems.append(
            f"categorical: you have {answer['categorical']:.3f}; expected {categorical:.3f}, "
            "-log softmax(z)_0 (the two 3s share the probability almost equally)"
        )
    if not math.isclose(answer["binary"], binary, abs_tol=0.01):
        mean = binary / 3
        hint = (
            " (you averaged over the classes; sum the three terms)"
            if math.isclose(answer["binary"], mean, abs_tol=0.01)
            else ""
        )
        problems.append(
            f"binary: you have {answer['binary']:.3f}; expected {binary:.3f}, the sum over the three "
            f"classes of -[t log s(z) + (1 - t) log(1 - s(z))] with t the one-hot target{hint}"
        )
    return problems


@_exercise(
    "4.3", "train mode without moving frozen BatchNorm statistics", "derive-and-code"
)
def _check_train_mode(fn: Callable[[nn.Module], Any]) -> list[str]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3),
        nn.BatchNorm2d(4),
    )
    for p in [*model[0].parameters(), *model[1].parameters()]:
        p.requires_grad_(False)  # the first conv and BN are frozen
    model.eval()
    fn(model)
    if not model[3].training:
        return [
            "the trainable convolution is not in training mode: call model.train() first"
        ]
    if model[1].training:
        return [
            "the frozen BatchNorm layer (model[1]) is in training mode: its running statistics will drift; "
            "put every BatchNorm layer whose parameters are all frozen back into eval()"
        ]
    if not model[4].training:
        return [
            "the trainable BatchNorm layer (model[4]) is in eval mode: only frozen ones should be"
        ]
    frozen = model[1]
    assert isinstance(frozen, nn.BatchNorm2d) and frozen.running_mean is not None
    before = frozen.running_mean.clone()
    with torch.no_grad():
        model(torch.randn(8, 3, 8, 8) * 3 + 1)
    if not torch.equal(before, frozen.running_mean):
        return ["a forward pass moved the frozen layer's running mean"]
    return []


# --- chapter 5: evaluation --------------------------------------------------------------------------------


@_exercise("5.1", "the Wilson score interval", "derive-and-code")
def _check_wilson(fn: Callable[[int, int], tuple[float, float]]) -> list[str]:
    from .evaluation import wilson_interval

    for k, n in ((707, 1000), (3, 10), (0, 20), (50, 50)):
        lo, hi = (float(v) for v in fn(k, n))
        want = wilson_interval(k, n)
        if not (
            math.isclose(lo, want[0], abs_tol=1e-4)
            and math.isclose(hi, want[1], abs_tol=1e-4)
        ):
            p = k / n
            wald = (
                p - 1.96 * math.sqrt(p * (1 - p) / n),
                p + 1.96 * math.sqrt(p * (1 - p) / n),
            )
            hint = (
                " That is the normal (Wald) interval p ± z·sqrt(p(1-p)/n); Wilson's centre moves towards 1/2 "
                "and its width has an extra z²/4n² term."
                if math.isclose(lo, wald[0], abs_tol=1e-4)
                else ""
            )
            return [
                f"for {k} correct of {n} you return ({lo:.4f}, {hi:.4f}); expected ({want[0]:.4f}, {want[1]:.4f})."
                + hint
            ]
    return []


@_exercise("5.2", "precision and recall from a confusion matrix", "derive-and-code")
def _check_precision_recall(
    fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
) -> list[str]:
    confusion = torch.tensor(
        [[8, 2, 0], [1, 6, 3], [0, 0, 10]]
    )  # rows: true class, columns: prediction
    precision, recall = (_as_tensor(v, "your result") for v in fn(confusion.clone()))
    c = confusion.double()
    want_p, want_r = c.diag() / c.sum(0), c.diag() / c.sum(1)
    if torch.allclose(precision, want_r, atol=1e-4) and torch.allclose(
        recall, want_p, atol=1e-4
    ):
        return [
            "precision and recall are swapped: rows are true classes, so recall divides by row sums and "
            "precision by column sums"
        ]
    problems = []
    if not torch.allclose(precision, want_p, atol=1e-4):
        problems.append(
            f"precision {_fmt(precision)}; expected {_fmt(want_p)}: correct / predicted as that class "
            "(column sums)"
        )
    if not torch.allclose(recall, want_r, atol=1e-4):
        problems.append(
            f"recall {_fmt(recall)}; expected {_fmt(want_r)}: correct / images of that class (row sums)"
        )
    return problems


@_exercise(
    "5.3",
    "predict, then measure: what temperature scaling changes",
    "run-and-interpret",
)
def _check_temperature(answer: dict) -> list[str]:
    keys = {"accuracy_changes", "ece_before", "ece_after"}
    if not isinstance(answer, dict) or set(answer) != keys:
        return [
            "answer with a dict {'accuracy_changes': True or False, 'ece_before': ..., 'ece_after': ...}"
        ]
    problems = []
    if answer["accuracy_changes"] is not False:
        problems.append(
            "dividing every logit of an image by the same T > 0 keeps their order, so the predicted class "
            "and the accuracy cannot change; 'accuracy_changes' should be False"
        )
    for key in ("ece_before", "ece_after"):
        if not _is_fraction(answer[key]):
            problems.append(
                f"{key} is {answer[key]!r}; expected the measured ECE, a number in [0, 1]"
            )
    if not problems and answer["ece_after"] > answer["ece_before"] + 0.02:
        print(
            "  note: the ECE grew on the test set; with few validation images the fitted T can overshoot"
        )
    return problems


# --- chapter 6: outlook -----------------------------------------------------------------------------------


@_exercise("6.1", "how much data? read it off the curve", "derive-and-code")
def _check_images_needed(
    fn: Callable[[list[dict], str, float], int | None],
) -> list[str]:
    from .studies import images_needed

    rows = [
        {"strategy": s, "per_class": k, "seed": seed, "test_accuracy": a + 0.02 * seed}
        for s, accs in (
            ("finetune", (0.30, 0.45, 0.60)),
            ("scratch", (0.12, 0.20, 0.30)),
        )
        for k, a in zip((5, 25, 100), accs)
        for seed in (0, 1, 2)
    ]
    for strategy, target in (
        ("finetune", 0.45),
        ("finetune", 0.5),
        ("scratch", 0.3),
        ("scratch", 0.9),
    ):
        got, want = fn(rows, strategy, target), images_needed(rows, strategy, target)
        if got != want:
            return [
                f"for {strategy} and target {target:.2f} you return {got}; expected {want}: the smallest images "
                "per class whose *mean* accuracy over seeds reaches the target, or None if none does"
            ]
    return []


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
        "chapter 5's curve reaches several "
        "times chance with 5 labelled images per class",
    ),
    "Transfer learning is a computer-vision technique only.": (
        False,
        "the idea is general: pretrained language and speech models are fine-tuned the same "
        "way, and ImageNet backbones themselves are fine-tuned on spectrograms and medical scans, not only on "
        "photographs",
    ),
}


@_exercise("6.2", "FAQ: true or false, with the book's evidence", "run-and-interpret")
def _check_faq(answer: dict) -> list[str]:
    if not isinstance(answer, dict):
        return ["answer with a dict mapping each statement to True or False"]
    problems = []
    for statement, (truth, why) in _FAQ.items():
        if statement not in answer:
            problems.append(f"missing: {statement!r}")
        elif answer[statement] is not truth:
            problems.append(f"{statement!r} is {truth}: {why}")
    return problems


@_exercise("6.3", "bring your own images: fine-tune on a folder", "open-ended")
def _check_own_run(result: Any) -> list[str]:
    from .data import CIFAR10_CLASSES
    from .experiment import RunResult

    if not isinstance(result, RunResult):
        return [
            f"expected the RunResult that tlbook.experiment.run returns; got {type(result).__name__}"
        ]
    classes = result.test.classes
    if classes == CIFAR10_CLASSES:
        return [
            "this run used all of CIFAR-10; point cfg.data (or data=) at your own folder of class folders"
        ]
    chance = 1 / len(classes)
    print(
        f"  {len(classes)} classes ({', '.join(classes)}): test accuracy {result.test.accuracy:.1%} "
        f"(chance {chance:.0%})"
    )
    return []
