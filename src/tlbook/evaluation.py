"""Evaluation beyond one accuracy number: intervals, per-class scores, calibration, corruptions.

Chapter 5 uses these on the output of :func:`tlbook.train.evaluate`:

* :func:`wilson_interval` -- a 95 % confidence interval for one accuracy;
* :func:`mcnemar` -- is one model better than another *on the same images*?
  (the paired test; two Wilson intervals that overlap say nothing about it);
* :func:`per_class_scores` and :func:`most_confused` -- precision, recall,
  F1 and the class pairs mixed up most, from a confusion matrix;
* :func:`reliability` and :func:`expected_calibration_error` -- is a
  confidence of 80 % right 80 % of the time?
* :func:`fit_temperature` -- temperature scaling, fitted on validation logits;
* :func:`corrupt` -- Gaussian noise, blur, JPEG and brightness at severities 1-5;
* :func:`corruption_accuracy` -- a model's accuracy under each corruption and severity
  (:func:`corruption_correct`: which images it gets right, for paired tests).

>>> lo, hi = wilson_interval(700, 1000)
>>> round(lo, 3), round(hi, 3)
(0.671, 0.728)
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .backbones import Preprocessing
from .data import ImageSet
from .images import decode_image
from .train import evaluate

__all__ = [
    "wilson_interval",
    "PairedTest",
    "mcnemar",
    "student_t_cdf",
    "student_t_quantile",
    "SeedComparison",
    "compare_over_seeds",
    "per_class_scores",
    "most_confused",
    "CALIBRATION_BINS",
    "reliability",
    "expected_calibration_error",
    "fit_temperature",
    "CORRUPTIONS",
    "CORRUPTION_NAMES",
    "robustness_verdict",
    "corrupt",
    "corruption_accuracy",
    "corruption_correct",
]


def wilson_interval(
    correct: int, total: int, *, z: float = 1.96
) -> tuple[float, float]:
    """Wilson score interval for a proportion ``correct / total`` (95 % for z = 1.96).

    Better than ``p +- z * sqrt(p(1-p)/n)`` near 0 and 1 and for small ``n``.
    """
    if total <= 0:
        raise ValueError("total must be positive")
    p = correct / total
    denom = 1 + z**2 / total
    centre = (p + z**2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z**2 / (4 * total**2)) / denom
    return centre - half, centre + half


@dataclass(frozen=True)
class PairedTest:
    """Two models compared on the same images (or on several such sets, pooled)."""

    n: int  # images scored by both
    a_only: int  # images model A gets right and model B wrong
    b_only: int  # images model B gets right and model A wrong
    difference: float  # accuracy of A minus accuracy of B, 0..1
    p_value: float  # exact two-sided McNemar test of "A and B are equally accurate"

    def verdict(
        self, *, alpha: float = 0.05, a: str = "A", b: str = "B", language: str = "en"
    ) -> str:
        """One sentence: which is better, or that the gap is within the noise (``language``: ``en`` or ``zh_CN``).

        >>> PairedTest(1000, 30, 10, 0.02, 0.002).verdict(a="full", b="partial")
        'full is better than partial by 2.0 points (McNemar p = 0.002, 1000 paired images)'
        >>> PairedTest(1000, 30, 10, 0.02, 0.002).verdict(a="full", b="partial", language="zh_CN")
        'full 比 partial 高 2.0 个百分点（McNemar p = 0.002，1000 张配对图像）'
        """
        zh = language == "zh_CN"
        test = (
            f"McNemar p = {self.p_value:.2g}，{self.n} 张配对图像"
            if zh
            else f"McNemar p = {self.p_value:.2g}, {self.n} paired images"
        )
        if self.p_value >= alpha:
            gap = 100 * self.difference
            if zh:
                return f"{a} 与 {b} 相差 {gap:+.1f} 个百分点，在噪声范围内（{test}）"
            return f"{a} and {b} differ by {gap:+.1f} points, within the noise ({test})"
        better, worse = (a, b) if self.difference > 0 else (b, a)
        gap = 100 * abs(self.difference)
        if zh:
            return f"{better} 比 {worse} 高 {gap:.1f} 个百分点（{test}）"
        return f"{better} is better than {worse} by {gap:.1f} points ({test})"


def mcnemar(
    correct_a: Sequence[bool] | torch.Tensor, correct_b: Sequence[bool] | torch.Tensor
) -> PairedTest:
    """Exact McNemar test on per-image correctness of two models scored on the same images.

    Only the images on which the two disagree carry information: under "equally
    accurate" each such image is a fair coin, so the count ``a_only`` among the
    ``a_only + b_only`` discordant images is Binomial(n, 1/2). Runs with other
    seeds are pooled by concatenating their per-image results (each image stays
    paired with itself).

    >>> t = mcnemar([1, 1, 1, 1, 1, 1, 1, 1, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    >>> t.a_only, t.b_only, round(t.p_value, 4)
    (8, 0, 0.0078)
    >>> mcnemar([1, 0], [0, 1]).p_value
    1.0
    """
    a = torch.as_tensor(correct_a, dtype=torch.bool).flatten()  # (N,)
    b = torch.as_tensor(correct_b, dtype=torch.bool).flatten()  # (N,)
    if a.shape != b.shape:
        raise ValueError(
            f"paired results need the same images: {a.numel()} against {b.numel()}"
        )
    if a.numel() == 0:
        raise ValueError("no images to compare")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    k, n = min(a_only, b_only), a_only + b_only
    # Two-sided exact binomial p-value: twice the smaller tail, capped at 1.
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n if n else 1.0
    return PairedTest(
        n=a.numel(),
        a_only=a_only,
        b_only=b_only,
        difference=(a_only - b_only) / a.numel(),
        p_value=min(1.0, 2 * tail),
    )


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), by Lentz's continued fraction (Numerical Recipes)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast on this side only
        return 1.0 - _incomplete_beta(b, a, 1.0 - x)
    front = (
        math.exp(
            math.lgamma(a + b)
            - math.lgamma(a)
            - math.lgamma(b)
            + a * math.log(x)
            + b * math.log1p(-x)
        )
        / a
    )
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return front * f


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom (no SciPy needed; tests compare with it).

    >>> round(student_t_cdf(2.776, 4), 4)  # the 97.5 % point with 4 degrees of freedom
    0.975
    """
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def student_t_quantile(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t (bisection on :func:`student_t_cdf`).

    >>> round(student_t_quantile(0.975, 2), 3)  # three seeds: the 95 % interval is +-4.3 standard errors
    4.303
    """
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if student_t_cdf(mid, df) < q else (lo, mid)
    return (lo + hi) / 2


@dataclass(frozen=True)
class SeedComparison:
    """Strategy A against B over training runs: one paired accuracy difference per seed.

    "A beats B" is a claim about training runs (another sample of images,
    another initialisation), so its unit is the seed: the test is a paired
    t-test over the seeds' differences, not McNemar's test on the pooled test
    images, which treats every image result as independent and so measures
    only the test set's noise for fixed models. The per-seed McNemar tests are
    kept beside it (``per_seed``), as the within-run picture.
    """

    differences: tuple[
        float, ...
    ]  # accuracy of A minus B for each seed, 0..1 (same test images per seed)
    per_seed: tuple[PairedTest, ...]  # McNemar within each seed
    mean: float  # mean difference over the seeds
    half_width: float  # half the 95 % confidence interval of the mean (t over seeds)
    p_value: (
        float  # two-sided paired t-test of "A and B are equally accurate", over seeds
    )

    @property
    def seeds(self) -> int:
        return len(self.differences)

    @property
    def interval(self) -> tuple[float, float]:
        """The 95 % confidence interval of the mean difference."""
        return self.mean - self.half_width, self.mean + self.half_width

    def verdict(
        self, *, a: str = "A", b: str = "B", alpha: float = 0.05, language: str = "en"
    ) -> str:
        """One sentence no stronger than its test: which is better, or that the gap is within the noise.

        The noise case names the smallest gap the design can resolve: the
        half-width of the 95 % interval, below which a gap cannot be told from
        zero with this many seeds. ``language``: ``en`` or ``zh_CN`` (the same
        numbers, written as the Chinese edition writes them).

        >>> c = compare_over_seeds([0.7, 0.72, 0.71], [0.6, 0.61, 0.6])
        >>> c.verdict(a="full", b="scratch")
        'full is better than scratch by 10.7 points (3 seeds, 95 % CI 9.2 to 12.1; paired t-test over seeds p = 0.00098)'
        >>> c.verdict(a="full", b="scratch", language="zh_CN")
        'full 比 scratch 高 10.7 个百分点（3 个随机种子，95% CI 9.2 至 12.1；跨随机种子配对 t 检验 p = 0.00098）'
        >>> compare_over_seeds([0.7, 0.69, 0.73], [0.71, 0.70, 0.70]).verdict(a="full", b="partial")
        'full and partial differ by +0.3 points, within the noise of 3 seeds (95 % CI -5.4 to +6.1; gaps below 5.7 points cannot be resolved with 3 seeds; paired t-test p = 0.83)'
        """
        zh = language == "zh_CN"
        lo, hi = (100 * x for x in self.interval)
        n, p = self.seeds, self.p_value
        if p < alpha:
            better, worse = (a, b) if self.mean > 0 else (b, a)
            if self.mean < 0:
                lo, hi = -hi, -lo
            gap = 100 * abs(self.mean)
            if zh:
                return (
                    f"{better} 比 {worse} 高 {gap:.1f} 个百分点（{n} 个随机种子，95% CI {lo:.1f} 至 {hi:.1f}；"
                    f"跨随机种子配对 t 检验 p = {p:.2g}）"
                )
            return (
                f"{better} is better than {worse} by {gap:.1f} points ({n} seeds, "
                f"95 % CI {lo:.1f} to {hi:.1f}; paired t-test over seeds p = {p:.2g})"
            )
        gap, floor = 100 * self.mean, 100 * self.half_width
        if zh:
            return (
                f"{a} 与 {b} 相差 {gap:+.1f} 个百分点，在 {n} 个随机种子的噪声范围内（95% CI {lo:+.1f} 至 {hi:+.1f}；"
                f"{n} 个随机种子无法分辨小于 {floor:.1f} 个百分点的差距；配对 t 检验 p = {p:.2g}）"
            )
        return (
            f"{a} and {b} differ by {gap:+.1f} points, within the noise of {n} seeds "
            f"(95 % CI {lo:+.1f} to {hi:+.1f}; gaps below {floor:.1f} points cannot be resolved "
            f"with {n} seeds; paired t-test p = {p:.2g})"
        )


def compare_over_seeds(
    accuracy_a: Sequence[float],
    accuracy_b: Sequence[float],
    *,
    per_seed: Sequence[PairedTest] = (),
) -> SeedComparison:
    """A paired t-test over seeds: ``accuracy_a[i]`` and ``accuracy_b[i]`` come from the same seed.

    >>> c = compare_over_seeds([0.74, 0.75, 0.73], [0.70, 0.72, 0.71])
    >>> round(100 * c.mean, 1), c.seeds
    (3.0, 3)
    """
    if len(accuracy_a) != len(accuracy_b):
        raise ValueError(
            f"{len(accuracy_a)} accuracies of A but {len(accuracy_b)} of B: pair them by seed"
        )
    diffs = [x - y for x, y in zip(accuracy_a, accuracy_b)]
    n = len(diffs)
    if n < 2:
        raise ValueError(
            "a test over seeds needs at least 2 seeds (one run says nothing about the next)"
        )
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    se = sd / math.sqrt(n)
    if se == 0.0:  # every seed gave the same difference
        p = 1.0 if mean == 0 else 0.0
    else:
        p = 2 * (1 - student_t_cdf(abs(mean) / se, n - 1))
    return SeedComparison(
        differences=tuple(diffs),
        per_seed=tuple(per_seed),
        mean=mean,
        half_width=student_t_quantile(0.975, n - 1) * se,
        p_value=min(1.0, p),
    )


def per_class_scores(confusion: torch.Tensor) -> dict[str, torch.Tensor]:
    """Precision, recall and F1 per class ``(K,)`` from a confusion matrix (rows: true).

    >>> s = per_class_scores(torch.tensor([[8, 2], [1, 9]]))
    >>> [round(v, 3) for v in s["recall"].tolist()], [round(v, 3) for v in s["precision"].tolist()]
    ([0.8, 0.9], [0.889, 0.818])
    """
    c = confusion.double()
    tp = c.diag()
    precision = tp / c.sum(0).clamp(min=1)
    recall = tp / c.sum(1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return {"precision": precision, "recall": recall, "f1": f1, "support": c.sum(1)}


def most_confused(
    confusion: torch.Tensor, classes: list[str], *, k: int = 5
) -> list[tuple[str, str, int]]:
    """The ``k`` largest off-diagonal counts as ``(true class, predicted class, count)``.

    >>> most_confused(torch.tensor([[5, 3], [1, 6]]), ["cat", "dog"], k=1)
    [('cat', 'dog', 3)]
    """
    off = confusion.clone()
    off.fill_diagonal_(0)
    values, flat = off.flatten().topk(min(k, off.numel()))
    n = confusion.shape[0]
    return [
        (classes[i // n], classes[i % n], int(v))
        for v, i in zip(values.tolist(), flat.tolist())
        if v > 0
    ]


# Equal-width confidence bins of the reliability diagram and the ECE: one number for both.
CALIBRATION_BINS = 15


def reliability(
    probs: torch.Tensor, labels: torch.Tensor, *, bins: int = CALIBRATION_BINS
) -> dict[str, torch.Tensor]:
    """Confidence and accuracy per confidence bin (equal width on [0, 1]).

    Returns ``confidence``, ``accuracy`` and ``count`` per bin ``(bins,)``;
    empty bins have confidence and accuracy 0.
    """
    conf, pred = probs.max(dim=1)  # (N,), (N,)
    correct = (pred == labels).double()
    idx = torch.clamp((conf * bins).long(), max=bins - 1)  # (N,) bin of each prediction
    count = torch.bincount(idx, minlength=bins).double()
    conf_sum = torch.bincount(idx, weights=conf.double(), minlength=bins)
    acc_sum = torch.bincount(idx, weights=correct, minlength=bins)
    safe = count.clamp(min=1)
    return {"confidence": conf_sum / safe, "accuracy": acc_sum / safe, "count": count}


def expected_calibration_error(
    probs: torch.Tensor, labels: torch.Tensor, *, bins: int = CALIBRATION_BINS
) -> float:
    """ECE: the average gap between confidence and accuracy, weighted by bin size.

    >>> probs = torch.tensor([[0.9, 0.1], [0.9, 0.1]])  # 90 % sure, right half the time
    >>> round(expected_calibration_error(probs, torch.tensor([0, 1])), 3)
    0.4
    """
    r = reliability(probs, labels, bins=bins)
    n = r["count"].sum()
    return float((r["count"] / n * (r["confidence"] - r["accuracy"]).abs()).sum())


def fit_temperature(
    logits: torch.Tensor, labels: torch.Tensor, *, steps: int = 200
) -> float:
    """The temperature ``T > 0`` minimising the cross-entropy of ``softmax(logits / T)``.

    Fit it on validation logits, never on the test set; dividing logits by
    ``T`` changes confidences but never the predicted class.
    """
    log_t = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS(
        [log_t], lr=0.1, max_iter=steps, line_search_fn="strong_wolfe"
    )
    logits = logits.detach().double()

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.double().exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


# --- corruptions: deterministic given a seed; uint8 images (N, 3, H, W) in, same out ------------

_NOISE_STD = (
    0.04,
    0.06,
    0.08,
    0.12,
    0.16,
)  # Gaussian noise, fraction of the 0-255 range
_BLUR_SIGMA = (0.4, 0.6, 0.8, 1.0, 1.3)  # Gaussian blur, pixels at 32 px
_JPEG_QUALITY = (80, 60, 40, 25, 12)
_BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)  # added to every value in [0, 1]
CORRUPTIONS = ("gaussian_noise", "blur", "jpeg", "brightness")
# Each corruption as a sentence names it, per language (LANGUAGES).
CORRUPTION_NAMES = {
    "en": {
        "gaussian_noise": "gaussian noise",
        "blur": "blur",
        "jpeg": "jpeg",
        "brightness": "brightness",
    },
    "zh_CN": {
        "gaussian_noise": "高斯噪声",
        "blur": "模糊",
        "jpeg": "JPEG 压缩",
        "brightness": "亮度变化",
    },
}


def robustness_verdict(
    ahead: list[str], behind: list[str], *, language: str = "en"
) -> str:
    """One sentence from paired tests per corruption: where model A is measurably ahead, behind, or neither.

    ``ahead`` and ``behind`` are kinds of :data:`CORRUPTIONS` whose paired test
    (:func:`mcnemar`) found A better or worse at the 5 % level; ``language``:
    ``en`` or ``zh_CN``.

    >>> robustness_verdict(["blur"], [])
    'the fine-tuned model stays measurably ahead under blur and falls measurably behind under none; under the others the two are within the noise of these images'
    >>> robustness_verdict(["blur"], [], language="zh_CN")
    '微调模型在模糊下保持可测量的领先，在任何损坏下都没有可测量地落后；在其余损坏下，两者的差距在这些图像的噪声范围内'
    """
    names = CORRUPTION_NAMES[language]
    if language == "zh_CN":
        return (
            "微调模型在"
            + ("、".join(names[k] for k in ahead) or "任何损坏")
            + ("下保持可测量的领先" if ahead else "下都没有可测量的领先")
            + "，在"
            + ("、".join(names[k] for k in behind) or "任何损坏")
            + ("下可测量地落后" if behind else "下都没有可测量地落后")
            + "；在其余损坏下，两者的差距在这些图像的噪声范围内"
        )
    return (
        "the fine-tuned model stays measurably ahead under"
        f" {', '.join(names[k] for k in ahead) or 'no corruption'}"
        f" and falls measurably behind under {', '.join(names[k] for k in behind) or 'none'};"
        " under the others the two are within the noise of these images"
    )


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(
        F.pad(x, (radius, radius, 0, 0), mode="reflect"),
        k.view(1, 1, 1, -1).repeat(c, 1, 1, 1),
        groups=c,
    )
    return F.conv2d(
        F.pad(x, (0, 0, radius, radius), mode="reflect"),
        k.view(1, 1, -1, 1).repeat(c, 1, 1, 1),
        groups=c,
    )


def corrupt(
    images: torch.Tensor, kind: str, severity: int, *, seed: int = 0
) -> torch.Tensor:
    """A corrupted copy of uint8 images ``(N, 3, H, W)``; ``severity`` 1 (mild) to 5.

    >>> x = torch.full((1, 3, 8, 8), 100, dtype=torch.uint8)
    >>> int(corrupt(x, "brightness", 1)[0, 0, 0, 0])
    126
    """
    if kind not in CORRUPTIONS:
        raise ValueError(
            f"unknown corruption {kind!r}; choose one of {', '.join(CORRUPTIONS)}"
        )
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 1 to 5, got {severity}")
    s = severity - 1
    x = images.float() / 255.0  # (N, 3, H, W)
    if kind == "gaussian_noise":
        g = torch.Generator().manual_seed(seed)
        x = x + torch.randn(x.shape, generator=g) * _NOISE_STD[s]
    elif kind == "blur":
        x = _blur(x, _BLUR_SIGMA[s])
    elif kind == "brightness":
        x = x + _BRIGHTNESS[s]
    elif kind == "jpeg":
        out = torch.empty_like(images)
        for i, img in enumerate(images):
            buf = io.BytesIO()
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(
                buf, format="JPEG", quality=_JPEG_QUALITY[s]
            )
            decoded = decode_image(
                buf.getvalue(), storage_size=None, name="the JPEG round trip"
            )  # (H, W, 3)
            out[i] = torch.from_numpy(decoded).permute(2, 0, 1)
        return out
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def corruption_accuracy(
    model: nn.Module,
    data: ImageSet,
    *,
    preprocessing: Preprocessing,
    severities: tuple[int, ...] = (1, 3, 5),
    kinds: tuple[str, ...] = CORRUPTIONS,
) -> dict[str, list[float]]:
    """Accuracy of ``model`` on ``data`` under each corruption, one value per severity.

    The corruptions are deterministic (:func:`corrupt`), so two models see the
    same corrupted images; the result is what :func:`tlbook.plots.plot_robustness` draws.
    """
    right = corruption_correct(
        model, data, preprocessing=preprocessing, severities=severities, kinds=kinds
    )
    return {
        kind: [float(r.float().mean()) for r in per_severity]
        for kind, per_severity in right.items()
    }


def corruption_correct(
    model: nn.Module,
    data: ImageSet,
    *,
    preprocessing: Preprocessing,
    severities: tuple[int, ...] = (1, 3, 5),
    kinds: tuple[str, ...] = CORRUPTIONS,
) -> dict[str, list[torch.Tensor]]:
    """Which images ``model`` gets right under each corruption: one bool tensor ``(N,)`` per severity.

    What :func:`corruption_accuracy` averages, kept per image so that two
    models can be compared on the same corrupted images (:func:`mcnemar`)
    without evaluating them twice.
    """
    out: dict[str, list[torch.Tensor]] = {}
    for kind in kinds:
        out[kind] = []
        for s in severities:
            e = evaluate(
                model,
                ImageSet(corrupt(data.images, kind, s), data.labels, data.classes),
                preprocessing=preprocessing,
            )
            out[kind].append(e.predictions == e.labels)  # (N,)
    return out
