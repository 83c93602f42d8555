"""Intervals, per-class scores, calibration and corruptions."""

import pytest
import torch

from tlbook.evaluation import (
    CORRUPTIONS,
    corrupt,
    expected_calibration_error,
    fit_temperature,
    most_confused,
    per_class_scores,
    reliability,
    wilson_interval,
)


def test_wilson_interval_contains_the_estimate_and_shrinks():
    lo, hi = wilson_interval(70, 100)
    assert lo < 0.7 < hi
    lo2, hi2 = wilson_interval(700, 1000)
    assert hi2 - lo2 < hi - lo
    assert wilson_interval(0, 10)[0] == pytest.approx(
        0.0, abs=1e-12
    ) and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        wilson_interval(1, 0)


def test_per_class_scores_match_sklearn_definitions():
    conf = torch.tensor([[5, 1, 0], [2, 3, 1], [0, 3, 4]])
    s = per_class_scores(conf)
    assert s["precision"][0].item() == pytest.approx(5 / 7)
    assert s["precision"][1].item() == pytest.approx(3 / 7)
    assert s["recall"][1].item() == pytest.approx(3 / 6)
    p, r = s["precision"][2].item(), s["recall"][2].item()
    assert s["f1"][2].item() == pytest.approx(2 * p * r / (p + r))
    assert most_confused(conf, ["a", "b", "c"], k=2) == [("c", "b", 3), ("b", "a", 2)]


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
