# %% [markdown]
# # Evaluation: one test, honest numbers, and what accuracy hides
#
# :::{admonition} In this chapter
# :class: tip
# **You will learn** to touch the test set once, with deterministic
# preprocessing; to report accuracy with a confidence interval; to read
# per-class precision, recall and F1, the confusion matrix and the most confident
# mistakes; to measure calibration and repair it with temperature scaling; what
# flip test-time augmentation buys; how accuracy grows with labelled data,
# pretrained versus from scratch (the source's central claim, measured); and how
# robust the model is to common corruptions.
#
# **Runtime**: <!-- runtime --><!-- /runtime -->: two training runs and a few
# thousand evaluations.
# On a GPU the training takes seconds, and installing the package and loading
# the data and weights take most of the time (not timed: this project has had
# no GPU to measure on).
# The data-efficiency curve (30 training runs; its run time is on the
# {doc}`reproduce` page) is computed by `python -m tlbook study curve --preset cpu
# --image-size 96 --out src/tlbook/results/curve-cpu.json` and loaded; in other
# presets this notebook computes it itself.
#
# **Presets**: the outputs shown come from the `cpu` preset, and every runtime
# runs that preset unless you ask for another, Colab's GPU runtime too (where it
# is much faster). For all of CIFAR-10 at 224 px run `%env TLBOOK_PRESET=full`
# before the first `get_config()` (hours even on a GPU; see {doc}`scaling`), or
# `smoke` for a seconds-long plumbing check.
# :::
#
# The source's evaluation loop measures accuracy once, on a test set that it
# augments at random, with the network still in training mode (chapter 4 showed
# what that costs). This chapter does the opposite: the model is chosen on a
# **validation split** taken from CIFAR-10's *training* images, and the **test
# split** is touched once, with deterministic preprocessing, for the numbers
# below.

# %%
import torch

from tlbook import get_config
from tlbook.evaluation import (
    CALIBRATION_BINS,
    CORRUPTIONS,
    corruption_correct,
    expected_calibration_error,
    fit_temperature,
    most_confused,
    per_class_scores,
    reliability,
    robustness_verdict,
    wilson_interval,
)
from tlbook.experiment import load_data, run
from tlbook.plots import (
    glue,
    glue_sentence,
    plot_confusion,
    plot_data_curve,
    plot_reliability,
    plot_robustness,
    show_images,
)
from tlbook.studies import curve_means, images_needed, load_or_run
from tlbook.train import evaluate, predict_logits

cfg = get_config()
print(cfg.describe())
train, val, test = load_data(cfg)
print(f"{len(train)} training, {len(val)} validation, {len(test)} test images")

# %% [markdown]
# ## Train once, test once
#
# One run of the book's recipe (full fine-tuning, chapter 4): the weights of the
# epoch with the best validation accuracy are kept, then the test set is
# evaluated once. A linear probe is trained too, for the robustness comparison at
# the end: the book's fast path (`strategy="probe"`, chapter 4), whose head is
# fitted to the frozen backbone's features of the un-augmented training images.

# %%
finetuned = run(cfg, strategy="finetune")
probe = run(cfg, strategy="probe")
ev = finetuned.test
for name, r in (("fine-tuned", finetuned), ("linear probe", probe)):
    print(
        f"{name:<13} test accuracy {r.test.accuracy:.1%}   ({r.seconds:.0f} s to train"
        " and test)"
    )

# %% [markdown]
# ### A confidence interval
#
# A test accuracy is an estimate from $n$ images. If each is correct
# independently with probability $p$, the number correct is binomial, and the
# **Wilson score interval** {cite}`wilson1927probable` is a 95 % interval for $p$
# that behaves well even near 0 or 1:
#
# $$
# \frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}{1 + \frac{z^2}{n}},
# \qquad z = 1.96 .
# $$ (eq-wilson)
#
# With these test images the interval reaches {glue:text}`wilson_halfwidth:.1f`
# points either side: a difference of a point or two between two runs is within
# the noise. (To compare
# two models on the *same* images, use a paired test instead, as chapter 4 does:
# it is sharper, because both models face the same hard images.)

# %%
correct = int((ev.predictions == ev.labels).sum())
lo, hi = wilson_interval(correct, len(ev.labels))
print(
    f"test accuracy {ev.accuracy:.1%} ({correct} of {len(ev.labels)}), 95 % interval"
    f" {lo:.1%} to {hi:.1%}"
)
glue("wilson_halfwidth", round(100 * (hi - lo) / 2, 1))

# %% [markdown]
# ## Per class: precision, recall, F1
#
# For class $c$, **precision** is the fraction of images *predicted* $c$ that
# are $c$; **recall** is the fraction of images *of* class $c$ that are
# predicted $c$ (the per-class accuracy); **F1** is their harmonic mean,
# $2PR/(P+R)$. Both come from the confusion matrix $C$ (rows: true class,
# columns: prediction): $P_c = C_{cc} / \sum_i C_{ic}$ and
# $R_c = C_{cc} / \sum_j C_{cj}$.

# %%
scores = per_class_scores(ev.confusion)
print(f"{'class':<12}{'precision':>10}{'recall':>8}{'F1':>7}")
for name, p, r, f in zip(
    ev.classes, scores["precision"], scores["recall"], scores["f1"]
):
    print(f"{name:<12}{p:>10.2f}{r:>8.2f}{f:>7.2f}")

# %% tags=["hide-input"] figure={"caption": "Confusion matrix of the fine-tuned model on the test subset: counts, coloured by the percentage of each true class.", "name": "fig-confusion", "alt": "A 10 by 10 matrix of counts with a dark diagonal and lighter off-diagonal cells; the pairs with the largest counts are printed below the figure."}
plot_confusion(ev.confusion, ev.classes)

# %% [markdown]
# The errors are not spread evenly: they concentrate between classes that look
# alike at 32 pixels. The most confused pairs, true class first:

# %%
for true, predicted, count in most_confused(ev.confusion, ev.classes, k=5):
    print(f"{true:>10} -> {predicted:<10} {count} images")

# %% [markdown]
# ### The most confident mistakes
#
# Sorting the errors by the probability the model gave its wrong answer shows
# what it gets *confidently* wrong: often ambiguous or atypical images, and
# sometimes images whose label is debatable.

# %% tags=["hide-input"] figure={"caption": "The twelve test images the fine-tuned model got wrong with the highest confidence: true class, predicted class and the predicted probability.", "name": "fig-mistakes", "alt": "Twelve small CIFAR-10 images, each titled with its true class, an arrow, the predicted class and a probability."}
confidence, predicted = ev.probs.max(dim=1)  # (N,), (N,)
wrong = torch.nonzero(predicted != ev.labels).flatten()
worst = wrong[confidence[wrong].argsort(descending=True)][:12]
show_images(
    test.images[worst],
    ncols=6,
    size=1.8,
    titles=[
        f"{ev.classes[ev.labels[i]]} -> {ev.classes[predicted[i]]}\n{confidence[i]:.2f}"
        for i in worst
    ],
)

# %% [markdown]
# ## Calibration: does 90 % confident mean 90 % right?
#
# A classifier is **calibrated** when, among the images it predicts with
# confidence $q$, a fraction $q$ is right. Group the test predictions into
# confidence bins $B_m$; the **expected calibration error** {cite}`guo2017calibration`
# is the bin-size-weighted gap between accuracy and confidence (here with
# `CALIBRATION_BINS` = 15 equal-width bins, the same bins the reliability
# diagram draws),
#
# $$
# \mathrm{ECE} = \sum_{m} \frac{|B_m|}{n}\,\bigl|\mathrm{acc}(B_m) - \mathrm{conf}(B_m)\bigr| .
# $$ (eq-ece)
#
# **Temperature scaling** divides every logit by one number $T > 0$ before the
# softmax. It never changes which class wins, only how sure the model is, and
# $T$ is fitted by minimising the cross-entropy on the *validation* split.
# Networks trained with plain cross-entropy are typically over-confident and get
# $T > 1$ {cite}`guo2017calibration`. This model was trained with label smoothing
# (chapter 4), which pulls confidences down: if the fitted $T$ printed below is
# below 1, the model is *under*-confident, and temperature scaling sharpens its
# probabilities instead of softening them.

# %%
pre = finetuned.preprocessing
model = finetuned.model.eval()
val_logits = predict_logits(model, val.images, preprocessing=pre)  # (N_val, K)
test_logits = predict_logits(model, test.images, preprocessing=pre)  # (N_test, K)
T = fit_temperature(val_logits, val.labels)
before, after = test_logits.softmax(dim=1), (test_logits / T).softmax(dim=1)
ece_before = glue(
    "ece_before", round(expected_calibration_error(before, test.labels), 3)
)
ece_after = glue("ece_after", round(expected_calibration_error(after, test.labels), 3))
glue("temperature", round(T, 2))
print(f"temperature fitted on the validation split: T = {T:.2f}")
print(
    f"test ECE ({CALIBRATION_BINS} bins) before: {ece_before:.3f}, after:"
    f" {ece_after:.3f}"
)
print(
    "test accuracy before and after:"
    f" {(before.argmax(1) == test.labels).float().mean():.1%},"
    f" {(after.argmax(1) == test.labels).float().mean():.1%} (unchanged by"
    " construction)"
)

# %% tags=["hide-input"] figure={"caption": "Reliability diagrams of the fine-tuned model on the test subset, before and after temperature scaling fitted on the validation split. Bars below the diagonal are over-confident bins; above it, under-confident.", "name": "fig-reliability", "alt": "Two bar charts of accuracy against confidence in fifteen bins, with the diagonal as reference."}
plot_reliability(
    {
        "before (T = 1)": reliability(before, test.labels),
        f"after (T = {T:.2f})": reliability(after, test.labels),
    }
)

# %% [markdown]
# The test ECE is {glue:text}`ece_before:.3f` before and
# {glue:text}`ece_after:.3f` after temperature scaling with
# $T =$ {glue:text}`temperature:.2f`, fitted on only 200 validation images. A
# change of a hundredth is within what 200 validation images can pin down. The
# honest lesson: measure calibration before repairing it, and fit the repair on
# enough validation data.
#
# ## Test-time augmentation
#
# Averaging the model's outputs for each image and its mirror image is the
# cheapest test-time augmentation: it is *deterministic* (unlike the source's
# random test transforms), costs one extra forward pass, and often adds a little
# accuracy. `tlbook` averages the two **logits** (`predict_logits(...,
# hflip_tta=True)`), not the two probabilities: the average stays a logit, so
# softmax, temperature scaling and the loss apply to it unchanged. The predicted
# class rarely differs between the two choices. Whether the change is real is a
# question for a paired test on the same images, printed below.

# %%
from tlbook.evaluation import mcnemar

tta = evaluate(model, test, preprocessing=pre, hflip_tta=True)
glue("tta_gain", round(100 * (tta.accuracy - ev.accuracy), 1))
print(
    f"without TTA {ev.accuracy:.1%}, with flip TTA {tta.accuracy:.1%} "
    f"({100 * (tta.accuracy - ev.accuracy):+.1f} points)"
)
print(
    mcnemar(tta.predictions == tta.labels, ev.predictions == ev.labels).verdict(
        a="flip TTA", b="no TTA"
    )
)

# %% [markdown]
# ### The unit of a test is the unit of the claim
#
# McNemar's test answers a question about *these two models on these images*.
# "Strategy A is better than strategy B" is a different claim: about what
# happens when the strategy is run again, on another draw of training images and
# another initial head. Its evidence is a handful of training runs, one accuracy
# difference per seed, and the test must treat it so. Pooling the per-image
# results of several runs into one McNemar test counts thousands of image results
# as if each were an independent run; it measures only how noisy the test set is
# for those fixed models, and it calls gaps that the next seed would not repeat.
# Chapter 4's strategies study shows the difference on layer-wise against
# two-level discriminative learning rates:

# %%
from tlbook.studies import compare_strategies, verdict

strategy_rows = load_or_run("strategies", cfg)
a, b = "layerwise", "discriminative"
shared = sorted(
    {r["seed"] for r in strategy_rows if r["strategy"] == a}
    & {r["seed"] for r in strategy_rows if r["strategy"] == b}
)
if len(shared) >= 2:
    by = {(r["strategy"], r["seed"]): r["correct"] for r in strategy_rows}
    pooled = mcnemar(
        [c == "1" for s in shared for c in by[(a, s)]],
        [c == "1" for s in shared for c in by[(b, s)]],
    )
    over_seeds = compare_strategies(strategy_rows, a, b)
    glue("pooled_p", float(f"{pooled.p_value:.2g}"))
    glue("seeds_p", float(f"{over_seeds.p_value:.2g}"))
    print(
        f"pooled over {pooled.n} images (wrong unit): McNemar p = {pooled.p_value:.2g}"
    )
    for s, d, t in zip(shared, over_seeds.differences, over_seeds.per_seed):
        print(
            f"seed {s}: {100 * d:+.1f} points"
            f" (McNemar p = {t.p_value:.2g} within the run)"
        )
print("over runs (the claim's unit): " + verdict(strategy_rows, a, b))

# %% [markdown]
# Pooled over the seeds' images, McNemar's test gives p = {glue:text}`pooled_p`;
# over the seeds, the paired t-test gives p = {glue:text}`seeds_p`. The per-seed
# lines show why they differ: the gap is not the same from one run to the next,
# and only the runs can say how much it varies. Which test is right depends on the
# question, and the book's question is about strategies, so every verdict in it
# comes from the test over seeds (`tlbook.studies.verdict` writes them all), and
# says, when a gap is inside the noise, how large a gap the seeds could resolve.
# More seeds shrink that limit; more test images do not.

# %% [markdown]
# ## How accuracy grows with labelled data
#
# The source's central claim is that transfer learning "achieves high
# performance on limited data". Here it is measured: the same network fine-tuned
# from ImageNet weights and trained from scratch, with the same recipe and
# budget, each at its own learning rate (chosen on validation data), for 5 to
# 100 labelled images per class, three seeds per point (each
# seed draws its own training, validation and test images). To fit 30 runs in
# about half an hour on 2 cores, the curve uses 96-pixel inputs (the rest of the
# chapter uses the preset's size) and, for the smallest sets, a smaller batch
# (`tlbook.studies.curve_batch_size`); the line printed below is the command that
# reproduces it.

# %%
from tlbook.studies import LONG_SCRATCH, labels_needed, scratch_budget, scratch_state

curve = load_or_run("curve", cfg)
sizes = sorted({r["per_class"] for r in curve})
names = [
    s
    for s in ("finetune", "scratch", LONG_SCRATCH)
    if any(r["strategy"] == s for r in curve)
]
print(f"{'per class':>9}" + "".join(f"{s:>20}" for s in names))
for k in sizes:
    cells = []
    for s in names:
        acc = torch.tensor(
            [
                r["test_accuracy"]
                for r in curve
                if r["per_class"] == k and r["strategy"] == s
            ]
        )
        if len(acc) == 0:  # the 4x-epochs baseline is run for the smaller sets only
            cells.append("not run")
            continue
        sd = f" ± {100 * acc.std():4.1f}" if len(acc) > 1 else " (1 seed)"
        cells.append(f"{100 * acc.mean():6.1f}{sd}")
    print(f"{k:>9}" + "".join(f"{c:>20}" for c in cells))
best_scratch = curve_means(curve, "scratch")[sizes[-1]]
match = images_needed(curve, "finetune", best_scratch)
glue("curve_smallest", sizes[0])
glue(
    "curve_finetune_smallest", round(100 * curve_means(curve, "finetune")[sizes[0]], 1)
)
glue("curve_scratch_smallest", round(100 * curve_means(curve, "scratch")[sizes[0]], 1))
glue("curve_largest", sizes[-1])
glue("curve_match", match or 0)
glue("curve_val", cfg.val_per_class)  # validation labels per class, in every run
glue("curve_match_all", (match or 0) + cfg.val_per_class)
glue("curve_largest_all", sizes[-1] + cfg.val_per_class)
if match:
    print(
        f"\nfrom scratch with {sizes[-1]} images per class: {best_scratch:.1%}; "
        f"fine-tuning reaches that with {match} per class"
    )
else:
    print("\nfine-tuning never reaches the from-scratch network's best here")
# The same question against the baseline given the compute it needs (chapter 4's
# scratch study).
scratch_rows = load_or_run("scratch", cfg)
budget = scratch_budget(scratch_rows)
match_budget = images_needed(curve, "finetune", budget["test_accuracy"])
glue("curve_budget_scale", budget["scale"])
glue("curve_budget_acc", round(100 * budget["test_accuracy"], 1))
glue("curve_budget_per_class", cfg.train_per_class)
glue_sentence(
    "curve_budget_converged", lambda lang: scratch_state(budget, language=lang)
)
glue_sentence(
    "curve_match_budget",
    lambda lang: labels_needed(match_budget, largest=sizes[-1], language=lang),
)
same = [r["test_accuracy"] for r in scratch_rows if r["strategy"] == "scratch"]
same_budget = sum(same) / len(same)
glue("curve_scratch_study_same", round(100 * same_budget, 1))
glue("curve_scratch_curve_same", round(100 * best_scratch, 1))
print(
    f"from scratch with {budget['scale']}x the epochs (chosen on validation, "
    f"{scratch_state(budget)}; chapter 4's study at "
    f"{cfg.image_size} px): {budget['test_accuracy']:.1%}; fine-tuning reaches that"
    f" with {labels_needed(match_budget, largest=sizes[-1])} per class"
)
if LONG_SCRATCH in names:  # the baseline with 4x the epochs, first seed
    long = {r["per_class"]: r for r in curve if r["strategy"] == LONG_SCRATCH}
    seed = next(iter(long.values()))["seed"]
    tuned = {
        r["per_class"]: r["test_accuracy"]
        for r in curve
        if r["strategy"] == "finetune" and r["seed"] == seed
    }
    gaps = {k: tuned[k] - r["test_accuracy"] for k, r in long.items()}
    glue("curve_long_epochs", next(iter(long.values()))["epochs"])
    glue("curve_long_largest", max(gaps))
    glue("curve_long_gap_small", round(100 * gaps[min(gaps)], 1))
    glue("curve_long_gap_large", round(100 * gaps[max(gaps)], 1))
    glue("curve_long_gap_min", round(100 * min(gaps.values()), 1))
    print(
        f"fine-tuned minus {LONG_SCRATCH} (seed {seed}), per class: "
        + ", ".join(f"{k}: {100 * g:+.1f}" for k, g in sorted(gaps.items()))
    )

# %% tags=["hide-input"] figure={"caption": "Test accuracy against the number of labelled training images per class (every run also uses 20 labelled validation images per class to choose its epoch): fine-tuned from ImageNet versus the same network from scratch at the same budget (mean and standard deviation over seeds; dots are single runs) and from scratch with four times the epochs (first seed, up to 25 per class).", "name": "fig-data-curve", "alt": "Rising curves on a log scale of images per class; the fine-tuned curve lies far above the from-scratch curves at every point; the from-scratch curve with four times the epochs, drawn for the three smallest sets, lies a little above the one at the same budget."}
plot_data_curve(curve, val_per_class=cfg.val_per_class)

# %% [markdown]
# Read the curve at both ends. With {glue:text}`curve_smallest` labelled images
# per class the pretrained network reaches {glue:text}`curve_finetune_smallest:.1f` %
# (chance is 10 %), the network from scratch {glue:text}`curve_scratch_smallest:.1f` %.
# The printout's last lines say how many labels fine-tuning needs to match
# the network from scratch at {glue:text}`curve_largest` per class. At the same
# budget: {glue:text}`curve_match` per class. These numbers count training
# images only. Every run also holds out {glue:text}`curve_val` labelled images
# per class for validation, which choose the epoch whose weights are kept, so
# counting every label the comparison is {glue:text}`curve_match_all` per class
# against {glue:text}`curve_largest_all`. But the network from scratch at the
# same budget is short of compute as well as data, so the fairer target is the
# baseline of chapter 4's scratch study, given the schedule chosen on
# validation ({glue:text}`curve_budget_scale` times the epochs,
# {glue:text}`curve_budget_converged`): {glue:text}`curve_budget_acc:.1f` % with
# {glue:text}`curve_budget_per_class` labelled images per class, which fine-tuning reaches with
# {glue:text}`curve_match_budget` per class. That study runs at the chapters'
# image size, not the curve's 96 pixels, and the extra pixels, if anything,
# help the network from scratch (at the same budget it reaches
# {glue:text}`curve_scratch_study_same:.1f` % there and
# {glue:text}`curve_scratch_curve_same:.1f` % on the curve), so the comparison
# does not favour fine-tuning. Both curves are still rising at the right end:
# more labels always help, but with transfer each label is worth much more.
# The standard deviation over seeds, in the table, is the run-to-run noise at
# each size: it includes *which* images were labelled and which were tested.
#
# Is the network from scratch only short of compute? The third column trains it
# for {glue:text}`curve_long_epochs` epochs, four times the budget, keeping the
# epoch with the best validation accuracy (first seed, up to
# {glue:text}`curve_long_largest` images per class: the few-label regime; at 100
# per class chapter 4's strategies study does the same). Fine-tuning, same seed,
# still leads it by {glue:text}`curve_long_gap_small:.1f` points at
# {glue:text}`curve_smallest` images per class and by
# {glue:text}`curve_long_gap_large:.1f` at {glue:text}`curve_long_largest`; its
# smallest lead on these points is {glue:text}`curve_long_gap_min:.1f` points. So
# "pretrained wins with few labels" survives a baseline given more compute.
#
# ## Robustness to common corruptions
#
# Test images in the wild are noisier, blurrier, more compressed or differently
# exposed than the training images. `tlbook.evaluation.corrupt` applies four such
# corruptions at five severities, deterministically, to the uint8 test images
# (in the spirit of {cite}`hendrycks2019benchmarking`); we measure a middle
# severity (3) and the worst (5). Does fine-tuning the
# whole network make it more or less robust than a linear probe on frozen
# ImageNet features?

# %%
severities = (3, 5)  # a middle one and the worst: the trend, at half the cost of five
every_other = torch.arange(0, len(test), 2)  # half the test images: half the cost
half = test.subset(every_other)
clean, robustness, right = {}, {}, {}
for name, r in (("fine-tuned", finetuned), ("linear probe", probe)):
    m = r.model.eval()
    # clean accuracy on the same images, from the test evaluation already made
    clean[name] = float(
        (r.test.predictions == r.test.labels)[every_other].float().mean()
    )
    # which images it gets right, per corruption and severity: {kind: [(N,) bool]}
    right[name] = corruption_correct(m, half, preprocessing=pre, severities=severities)
    robustness[name] = {
        kind: [float(c.float().mean()) for c in per_severity]
        for kind, per_severity in right[name].items()
    }
    print(
        f"{name:<13} clean {clean[name]:.1%}  "
        + "  ".join(f"{kind}: {robustness[name][kind][-1]:.1%}" for kind in CORRUPTIONS)
        + "  (severity 5)"
    )
glue("lead_clean", round(100 * (clean["fine-tuned"] - clean["linear probe"]), 1))
for kind in CORRUPTIONS:
    lead = robustness["fine-tuned"][kind][-1] - robustness["linear probe"][kind][-1]
    glue(f"lead_{kind}", round(100 * lead, 1))
    print(
        f"fine-tuned minus linear probe under {kind} at severity 5: {100 * lead:+.1f}"
        " points"
    )

# The two models on the same corrupted images: a paired test per corruption (a claim
# about these two trained models, so the unit is the image).
ahead, behind = [], []
for kind in CORRUPTIONS:
    paired = mcnemar(right["fine-tuned"][kind][-1], right["linear probe"][kind][-1])
    print(f"  {kind}: " + paired.verdict(a="fine-tuned", b="linear probe"))
    if paired.p_value < 0.05:
        (ahead if paired.difference > 0 else behind).append(kind)
glue_sentence(
    "robust_summary", lambda lang: robustness_verdict(ahead, behind, language=lang)
)

# %% tags=["hide-input"] figure={"caption": "Accuracy on half the test subset under four corruptions at increasing severity, fine-tuned versus linear probe.", "name": "fig-robustness", "alt": "Four small line charts, one per corruption, of accuracy falling with severity for two models."}
plot_robustness(robustness, severities=severities, clean=clean)

# %% [markdown]
# Compare the *lead* of one model over the other rather than the absolute
# numbers. On clean images the fine-tuned model is {glue:text}`lead_clean:.1f`
# points ahead of the linear probe; at the highest severity its lead is
# {glue:text}`lead_gaussian_noise:.1f` points under Gaussian noise,
# {glue:text}`lead_blur:.1f` under blur, {glue:text}`lead_jpeg:.1f` under JPEG
# compression and {glue:text}`lead_brightness:.1f` under a brightness change
# (negative: behind). Each of these is one run on 500 images, so a point or two
# either way is noise, and the paired tests printed under the leads say which
# are more than that: {glue:text}`robust_summary`. A lead that shrinks or turns
# suggests that fine-tuning every layer on 1,000 clean images specialised the
# features to clean images; one run of each model cannot say more. Better
# accuracy on the test split does not guarantee robustness: if you expect
# corrupted inputs, train with them (augmentation) or measure before choosing.
#
# ## Summary
#
# - Choose models on a validation split from the training images; evaluate the
#   test set once, deterministically, in `model.eval()` mode.
# - Report accuracy with an interval (a few points either side with 1,000 test
#   images); compare two models on the same images with a paired test, and two
#   *strategies* over training runs (seeds), never over pooled images.
# - Per-class precision and recall and the confusion matrix show *where* the
#   errors are; the most confident mistakes show *what* they are.
# - Measure calibration (ECE, reliability diagram) before repairing it;
#   temperature scaling, fitted on validation data, changes confidences without
#   changing a single prediction.
# - Transfer learning's advantage is largest when labels are scarce: the curve
#   above measures the source's central claim.
# - Accuracy on clean images does not tell you accuracy on corrupted ones:
#   measure the shift you expect.
#
# References are listed in {doc}`references`.

# %% [markdown]
# ## Exercises
#
# Each exercise ends with `check("5.N", ...)`, which says whether your answer
# passes and, if not, what is wrong. The solutions are folded under each cell;
# try first. Students get the same exercises with empty stubs in
# `exercises/05_evaluation.ipynb` (see {doc}`instructors`).

# %% tags=["exercise-setup"]
import math

import torch

from tlbook import get_config
from tlbook.evaluation import expected_calibration_error, fit_temperature
from tlbook.exercises import check
from tlbook.experiment import load_data, run
from tlbook.train import predict_logits

# %% [markdown]
# ### Exercise 5.1: the Wilson interval (derive and code)
#
# Implement the Wilson score interval for $k$ correct out of $n$, with
# $\hat p = k/n$ and $z = 1.96$:
#
# $$
# \frac{\hat p + \frac{z^2}{2n}}{1 + \frac{z^2}{n}}
# \pm \frac{z}{1 + \frac{z^2}{n}}\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}
# $$
#
# What does the plain normal interval $\hat p \pm z\sqrt{\hat p(1-\hat p)/n}$
# give for 0 correct out of 20, and why is that absurd?


# %% tags=["exercise", "nbval-check-output"]
def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes out of n."""
    # BEGIN SOLUTION
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half
    # END SOLUTION


check("5.1", wilson)

# %% [markdown]
# ### Exercise 5.2: precision and recall (derive and code)
#
# From a confusion matrix whose rows are the true classes and columns the
# predictions, compute per-class precision and recall without
# `per_class_scores`.


# %% tags=["exercise", "nbval-check-output"]
def precision_recall(confusion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class precision and recall (K,) from a (K, K) confusion matrix."""
    # BEGIN SOLUTION
    c = confusion.double()
    return c.diag() / c.sum(dim=0), c.diag() / c.sum(dim=1)
    # END SOLUTION


check("5.2", precision_recall)

# %% [markdown]
# ### Exercise 5.3: what does temperature scaling change? (predict, then measure)
#
# Predict first: does temperature scaling change the accuracy? The ECE? Then
# train the fast linear probe (`run(get_config(), strategy="probe")`), fit $T$
# on its validation logits and measure the test ECE before and after.

# %% tags=["exercise"]
# BEGIN SOLUTION stub: answer = {"accuracy_changes": ..., "ece_before": ..., "ece_after": ...}
quick = get_config()
_, val_set, test_set = load_data(quick)
probe_run = run(quick, strategy="probe")
val_z = predict_logits(
    probe_run.model.eval(), val_set.images, preprocessing=probe_run.preprocessing
)
test_z = predict_logits(
    probe_run.model, test_set.images, preprocessing=probe_run.preprocessing
)
t = fit_temperature(val_z, val_set.labels)
answer = {
    "accuracy_changes": False,
    "ece_before": expected_calibration_error(test_z.softmax(dim=1), test_set.labels),
    "ece_after": expected_calibration_error(
        (test_z / t).softmax(dim=1), test_set.labels
    ),
}
# END SOLUTION
check("5.3", answer)
