"""Intervals, per-class scores, calibration and corruptions."""

import pytest
import scipy.stats
import sklearn.metrics
import torch
from hypothesis import given
from hypothesis import strategies as st

from tlbook.evaluation import (
    CALIBRATION_BINS,
    CORRUPTIONS,
    compare_over_seeds,
    corrupt,
    expected_calibration_error,
    fit_temperature,
    most_confused,
    per_class_scores,
    reliability,
    student_t_cdf,
    student_t_quantile,
    wilson_interval,
)


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_is_scipys(case):
    """The reference: scipy's binomial test, Wilson's score interval (95 %)."""
    k, n = case
    reference = scipy.stats.binomtest(k, n).proportion_ci(
        confidence_level=0.95, method="wilson"
    )
    lo, hi = wilson_interval(k, n, z=scipy.stats.norm.ppf(0.975))
    assert lo == pytest.approx(reference.low, abs=1e-9) and hi == pytest.approx(
        reference.high, abs=1e-9
    )
    rounded = wilson_interval(k, n)  # the default z = 1.96
    assert rounded[0] == pytest.approx(lo, abs=1e-4) and rounded[1] == pytest.approx(
        hi, abs=1e-4
    )


def test_wilson_interval_needs_images():
    with pytest.raises(ValueError):
        wilson_interval(1, 0)


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=60)
)
def test_per_class_scores_are_sklearns(pairs):
    """Precision, recall and F1 per class against scikit-learn (0 where a class is never predicted or present)."""
    true, pred = [t for t, _ in pairs], [p for _, p in pairs]
    conf = torch.zeros(4, 4, dtype=torch.long)
    for t, p in pairs:
        conf[t, p] += 1
    s = per_class_scores(conf)
    ref = sklearn.metrics.precision_recall_fscore_support(
        true, pred, labels=range(4), zero_division=0
    )
    for name, values in zip(("precision", "recall", "f1"), ref[:3]):
        assert s[name].tolist() == pytest.approx(list(values)), name


def test_most_confused_pairs():
    conf = torch.tensor([[5, 1, 0], [2, 3, 1], [0, 3, 4]])
    assert most_confused(conf, ["a", "b", "c"], k=2) == [("c", "b", 3), ("b", "a", 2)]


def _textbook_ece(probs: torch.Tensor, labels: torch.Tensor, bins: int) -> float:
    """Guo et al. (2017): sum over equal-width confidence bins of |accuracy - confidence|, weighted by count."""
    confidence, predicted = probs.max(1)
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = [
            i
            for i, c in enumerate(confidence.tolist())
            if (low < c <= high) or (b == 0 and c == 0)
        ]
        if inside:
            acc = sum(int(predicted[i] == labels[i]) for i in inside) / len(inside)
            conf = sum(confidence[i].item() for i in inside) / len(inside)
            total += len(inside) / len(labels) * abs(acc - conf)
    return total


@given(st.integers(0, 2**31), st.integers(2, 6), st.integers(1, 200))
def test_ece_is_the_textbook_formula(seed, k, n):
    g = torch.Generator().manual_seed(seed)
    probs = (torch.randn(n, k, generator=g, dtype=torch.float64) * 3).softmax(1)
    labels = torch.randint(0, k, (n,), generator=g)
    ece = expected_calibration_error(probs, labels)
    assert ece == pytest.approx(
        _textbook_ece(probs, labels, CALIBRATION_BINS), abs=1e-6
    )


def test_perfectly_calibrated_predictions_have_zero_ece():
    g = torch.Generator().manual_seed(0)
    n = 20000
    conf = 0.5 + 0.5 * torch.rand(n, generator=g)
    labels = torch.zeros(n, dtype=torch.long)
    correct = torch.rand(n, generator=g) < conf  # right with probability = confidence
    probs = torch.stack([conf, 1 - conf], 1)
    labels[~correct] = 1
    assert expected_calibration_error(probs, labels) < 0.02
    r = reliability(probs, labels, bins=10)
    assert r["count"].sum() == n


def test_temperature_scaling_fixes_overconfidence_without_changing_predictions():
    g = torch.Generator().manual_seed(0)
    true_logits = torch.randn(4000, 5, generator=g) * 2
    labels = torch.distributions.Categorical(logits=true_logits).sample()
    overconfident = true_logits * 3
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3.0, rel=0.15)
    before = expected_calibration_error(overconfident.softmax(1), labels)
    after = expected_calibration_error((overconfident / t).softmax(1), labels)
    assert after < before / 2
    assert torch.equal((overconfident / t).argmax(1), overconfident.argmax(1))


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corruptions_grow_with_severity(kind):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(40, 200, (4, 3, 32, 32), dtype=torch.uint8, generator=g)
    diffs = [
        (corrupt(x, kind, s).float() - x.float()).abs().mean().item() for s in (1, 3, 5)
    ]
    assert 0 < diffs[0] < diffs[1] < diffs[2]
    assert (
        corrupt(x, kind, 2).dtype == torch.uint8
        and corrupt(x, kind, 2).shape == x.shape
    )
    assert torch.equal(corrupt(x, kind, 4, seed=1), corrupt(x, kind, 4, seed=1))


def test_bad_corruption_arguments():
    x = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match="fog"):
        corrupt(x, "fog", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt(x, "blur", 6)


def test_corruption_accuracy_matches_evaluating_corrupted_copies():
    from tlbook.backbones import Preprocessing
    from tlbook.data import ImageSet
    from tlbook.evaluation import corruption_accuracy
    from tlbook.train import evaluate

    g = torch.Generator().manual_seed(0)
    data = ImageSet(
        torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8, generator=g),
        torch.tensor([0, 1] * 3),
        ["a", "b"],
    )
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2)
    ).eval()
    pre = Preprocessing(8, (0.5,) * 3, (0.5,) * 3)
    got = corruption_accuracy(
        model, data, preprocessing=pre, severities=(1, 5), kinds=("blur", "brightness")
    )
    assert list(got) == ["blur", "brightness"] and all(
        len(v) == 2 for v in got.values()
    )
    by_hand = evaluate(
        model,
        ImageSet(corrupt(data.images, "brightness", 5), data.labels, data.classes),
        preprocessing=pre,
    ).accuracy
    assert got["brightness"][1] == by_hand


def test_mcnemar_is_the_exact_binomial_test_on_discordant_images():
    from scipy.stats import binomtest

    from tlbook.evaluation import mcnemar

    rng = torch.Generator().manual_seed(0)
    a = torch.rand(500, generator=rng) < 0.72  # (500,) correct?
    b = torch.rand(500, generator=rng) < 0.66
    t = mcnemar(a, b)
    assert (t.a_only, t.b_only) == (int((a & ~b).sum()), int((~a & b).sum()))
    assert t.p_value == pytest.approx(
        binomtest(t.a_only, t.a_only + t.b_only, 0.5).pvalue, rel=1e-9
    )
    assert t.difference == pytest.approx(float(a.float().mean() - b.float().mean()))
    assert (
        mcnemar(a, a).p_value == 1.0 and "within the noise" in mcnemar(a, a).verdict()
    )
    with pytest.raises(ValueError, match="same images"):
        mcnemar(a, b[:10])


@given(st.floats(-50, 50, allow_nan=False), st.integers(1, 60))
def test_student_t_is_scipys(t, df):
    assert student_t_cdf(t, df) == pytest.approx(scipy.stats.t.cdf(t, df), abs=1e-9)


@given(st.floats(0.001, 0.999), st.integers(1, 60))
def test_student_t_quantile_is_scipys(q, df):
    assert student_t_quantile(q, df) == pytest.approx(
        scipy.stats.t.ppf(q, df), rel=1e-6, abs=1e-6
    )


@given(
    st.lists(
        st.tuples(st.floats(0.3, 0.9), st.floats(0.3, 0.9)), min_size=2, max_size=10
    ).filter(lambda pairs: len({round(a - b, 9) for a, b in pairs}) > 1)
)
def test_compare_over_seeds_is_scipys_paired_t_test(pairs):
    """The unit of the test is the seed: scipy's paired t-test on the per-seed accuracies is the reference."""
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    c = compare_over_seeds(a, b)
    reference = scipy.stats.ttest_rel(a, b)
    assert c.p_value == pytest.approx(reference.pvalue, rel=1e-6, abs=1e-9)
    low, high = reference.confidence_interval(0.95)
    assert c.interval == pytest.approx((low, high), rel=1e-6, abs=1e-9)


def test_a_verdict_is_never_stronger_than_its_test():
    """Three runs whose gaps disagree: pooling their images would call it; the seeds do not."""
    c = compare_over_seeds([0.745, 0.760, 0.740], [0.730, 0.709, 0.729])
    assert c.p_value > 0.05 and "within the noise of 3 seeds" in c.verdict(
        a="full", b="head first"
    )
    assert "cannot be resolved" in c.verdict()


@given(st.lists(st.sampled_from((None, True, False)), min_size=4, max_size=4))
def test_the_robustness_verdict_names_each_measured_corruption_in_every_language(
    outcome,
):
    from tlbook.config import LANGUAGES
    from tlbook.evaluation import CORRUPTION_NAMES, robustness_verdict

    ahead = [k for k, o in zip(CORRUPTIONS, outcome) if o is True]
    behind = [k for k, o in zip(CORRUPTIONS, outcome) if o is False]
    for language in LANGUAGES:
        said = robustness_verdict(ahead, behind, language=language)
        assert all(CORRUPTION_NAMES[language][k] in said for k in ahead + behind)
        assert "_" not in said  # names, not identifiers
