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
# **Runtime**: about 7 minutes on a 2-core CPU (`cpu` preset): two training runs
# and a few thousand evaluations. The data-efficiency curve (30 training runs,
# about 30 minutes on 2 cores) is computed by
# `python -m tlbook study curve --preset cpu --image-size 96 --out book/results/curve-cpu.json`
# and loaded; in other presets this notebook computes it itself.
#
# **Presets**: the outputs shown come from the `cpu` preset. In Colab with a GPU
# runtime the `gpu` preset (all of CIFAR-10) is chosen automatically; to choose
# yourself, run `%env TLBOOK_PRESET=cpu` (or `gpu`, `smoke`) before the first
# `get_config()`.
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
from tlbook.evaluation import (CORRUPTIONS, corruption_accuracy, expected_calibration_error, fit_temperature,
                               most_confused, per_class_scores, reliability, wilson_interval)
from tlbook.experiment import load_data, run
from tlbook.plots import plot_confusion, plot_data_curve, plot_reliability, plot_robustness, show_images
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
# the end.

# %%
finetuned = run(cfg, strategy="finetune")
probe = run(cfg, strategy="linear")
ev = finetuned.test
for name, r in (("fine-tuned", finetuned), ("linear probe", probe)):
    print(f"{name:<13} test accuracy {r.test.accuracy:.1%}   ({r.seconds:.0f} s to train and test)")

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
# With 1,000 test images the interval is about ±3 points wide: differences of a
# point or two between runs in this book are within the noise, and this is why
# chapter 4's tables report what each change *buys* only when it is larger.

# %%
correct = int((ev.predictions == ev.labels).sum())
lo, hi = wilson_interval(correct, len(ev.labels))
print(f"test accuracy {ev.accuracy:.1%} ({correct} of {len(ev.labels)}), 95 % interval {lo:.1%} to {hi:.1%}")

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
for name, p, r, f in zip(ev.classes, scores["precision"], scores["recall"], scores["f1"]):
    print(f"{name:<12}{p:>10.2f}{r:>8.2f}{f:>7.2f}")

# %% tags=["hide-input"] figure={"caption": "Confusion matrix of the fine-tuned model on the test subset: counts, coloured by the percentage of each true class.", "name": "fig-confusion", "alt": "A 10 by 10 matrix; the diagonal is dark; the largest off-diagonal cells are between cat and dog and among the vehicles."}
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
show_images(test.images[worst], ncols=6, size=1.8,
            titles=[f"{ev.classes[ev.labels[i]]} -> {ev.classes[predicted[i]]}\n{confidence[i]:.2f}" for i in worst])

# %% [markdown]
# ## Calibration: does 90 % confident mean 90 % right?
#
# A classifier is **calibrated** when, among the images it predicts with
# confidence $q$, a fraction $q$ is right. Group the test predictions into
# confidence bins $B_m$; the **expected calibration error** {cite}`guo2017calibration`
# is the bin-size-weighted gap between accuracy and confidence,
#
# $$
# \mathrm{ECE} = \sum_{m} \frac{|B_m|}{n}\,\bigl|\mathrm{acc}(B_m) - \mathrm{conf}(B_m)\bigr| .
# $$ (eq-ece)
#
# **Temperature scaling** divides every logit by one number $T > 0$ before the
# softmax. It never changes which class wins, only how sure the model is, and
# $T$ is fitted by minimising the cross-entropy on the *validation* split.
# Networks trained with plain cross-entropy are typically over-confident and get
# $T > 1$ {cite}`guo2017calibration`; label smoothing (chapter 4) already pulls
# confidences down, so here there may be little left to repair.

# %%
pre = finetuned.preprocessing
model = finetuned.model.eval()
val_logits = predict_logits(model, val.images, preprocessing=pre)  # (N_val, K)
test_logits = predict_logits(model, test.images, preprocessing=pre)  # (N_test, K)
T = fit_temperature(val_logits, val.labels)
before, after = test_logits.softmax(dim=1), (test_logits / T).softmax(dim=1)
print(f"temperature fitted on the validation split: T = {T:.2f}")
print(f"test ECE before: {expected_calibration_error(before, test.labels):.3f}, "
      f"after: {expected_calibration_error(after, test.labels):.3f}")
print(f"test accuracy before and after: {(before.argmax(1) == test.labels).float().mean():.1%}, "
      f"{(after.argmax(1) == test.labels).float().mean():.1%} (unchanged by construction)")

# %% tags=["hide-input"] figure={"caption": "Reliability diagrams of the fine-tuned model on the test subset, before and after temperature scaling fitted on the validation split. Bars below the diagonal are over-confident bins; above it, under-confident.", "name": "fig-reliability", "alt": "Two bar charts of accuracy against confidence in ten bins, with the diagonal as reference."}
plot_reliability({"before (T = 1)": reliability(before, test.labels),
                  f"after (T = {T:.2f})": reliability(after, test.labels)})

# %% [markdown]
# In the `cpu` preset the model is already well calibrated (an ECE of a few
# hundredths) and the fitted temperature is close to 1; on the test set the
# "repair" even makes the ECE slightly worse, a change of about one hundredth
# that 200 validation images cannot pin down. That is
# the honest lesson: measure calibration before repairing it, and fit the repair
# on enough validation data (here only 200 images).
#
# ## Test-time augmentation
#
# Averaging the predicted probabilities of each image and its mirror image is
# the cheapest test-time augmentation: it is *deterministic* (unlike the source's
# random test transforms), costs one extra forward pass, and often adds a little
# accuracy. Whether a change is real is a question for the confidence interval
# above: in the `cpu` preset it adds about one point, inside that interval, so
# this one run cannot tell a real gain from luck (an earlier run of the preset,
# at 128 px, measured a fraction of a point less with TTA than without).

# %%
tta = evaluate(model, test, preprocessing=pre, hflip_tta=True)
print(f"without TTA {ev.accuracy:.1%}, with flip TTA {tta.accuracy:.1%} "
      f"({100 * (tta.accuracy - ev.accuracy):+.1f} points)")

# %% [markdown]
# ## How accuracy grows with labelled data
#
# The source's central claim is that transfer learning "achieves high
# performance on limited data". Here it is measured: the same network fine-tuned
# from ImageNet weights and trained from scratch, with the same recipe and
# budget, for 5 to 100 labelled images per class, three seeds per point (each
# seed draws its own training, validation and test images). To fit 30 runs in
# about half an hour on 2 cores, the curve uses 96-pixel inputs (the rest of the
# chapter uses the preset's size) and, for the smallest sets, a smaller batch
# (`tlbook.studies.curve_batch_size`); the line printed below is the command that
# reproduces it.

# %%
curve = load_or_run("curve", cfg)
sizes = sorted({r["per_class"] for r in curve})
print(f"{'per class':>9}" + "".join(f"{s:>16}" for s in ("finetune", "scratch", "difference")))
for k in sizes:
    acc = {s: torch.tensor([r["test_accuracy"] for r in curve if r["per_class"] == k and r["strategy"] == s])
           for s in ("finetune", "scratch")}
    cells = [f"{100 * a.mean():6.1f} ± {100 * a.std():4.1f}" for a in acc.values()]
    print(f"{k:>9}" + "".join(f"{c:>16}" for c in cells) + f"{100 * (acc['finetune'].mean() - acc['scratch'].mean()):>16.1f}")
best_scratch = curve_means(curve, "scratch")[sizes[-1]]
match = images_needed(curve, "finetune", best_scratch)
print(f"\nfrom scratch with {sizes[-1]} images per class: {best_scratch:.1%}; "
      f"fine-tuning reaches that with {match} per class" if match else "fine-tuning never reaches it here")

# %% tags=["hide-input"] figure={"caption": "Test accuracy against the number of labelled training images per class: fine-tuned from ImageNet versus the same network from scratch (mean and standard deviation over seeds; dots are single runs).", "name": "fig-data-curve", "alt": "Two rising curves on a log scale of images per class; the fine-tuned curve lies far above the from-scratch curve at every point."}
plot_data_curve(curve)

# %% [markdown]
# Read the curve at both ends. With 5 labelled images per class the pretrained
# network already does about three times better than chance (10 %), while the
# network from scratch barely leaves it. The last line of the printout says how
# many labels fine-tuning needs to match the network from scratch at 100 per
# class: in the `cpu` preset about a tenth as many, so each label is worth
# roughly ten to the pretrained network. Both curves are still rising at 100
# per class: more labels always help, but with transfer each label is worth
# much more. The spread between seeds is largest for the smallest sets, where
# *which* five images were labelled matters.
#
# ## Robustness to common corruptions
#
# Test images in the wild are noisier, blurrier, more compressed or differently
# exposed than the training images. `tlbook.evaluation.corrupt` applies four such
# corruptions at five severities, deterministically, to the uint8 test images
# (in the spirit of {cite}`hendrycks2019benchmarking`). Does fine-tuning the
# whole network make it more or less robust than a linear probe on frozen
# ImageNet features?

# %%
severities = (1, 3, 5)
half = test.subset(torch.arange(0, len(test), 2))  # every other test image: half the cost
clean, robustness = {}, {}
for name, r in (("fine-tuned", finetuned), ("linear probe", probe)):
    m = r.model.eval()
    clean[name] = evaluate(m, half, preprocessing=pre).accuracy
    robustness[name] = corruption_accuracy(m, half, preprocessing=pre, severities=severities)
    print(f"{name:<13} clean {clean[name]:.1%}  " + "  ".join(
        f"{kind}: {robustness[name][kind][-1]:.1%}" for kind in CORRUPTIONS) + "  (severity 5)")

# %% tags=["hide-input"] figure={"caption": "Accuracy on half the test subset under four corruptions at increasing severity, fine-tuned versus linear probe.", "name": "fig-robustness", "alt": "Four small line charts, one per corruption, of accuracy falling with severity for two models."}
plot_robustness(robustness, severities=severities, clean=clean)

# %% [markdown]
# Gaussian noise hurts most, then blur: at CIFAR-10's 32 pixels a blur of one
# pixel removes much of what distinguishes a cat from a dog. Compare the *drop*
# from clean accuracy rather than the absolute numbers. In the `cpu` preset the
# fine-tuned model starts about 10 points higher and stays well ahead under JPEG
# compression and brightness, but under strong noise and blur it loses nearly all
# of that lead: at the highest severity it is level with the linear probe under
# blur and *below* it under noise. Fine-tuning every layer on 1,000 clean images
# specialises the features to clean images, while the frozen ImageNet features keep some of
# the robustness they learned from a million varied photographs. Better accuracy
# on the test split did not buy robustness; if you expect noisy inputs, train
# with them (augmentation) or measure before choosing.
#
# ## Summary
#
# - Choose models on a validation split from the training images; evaluate the
#   test set once, deterministically, in `model.eval()` mode.
# - Report accuracy with an interval: with 1,000 test images, ±3 points.
# - Per-class precision and recall and the confusion matrix show *where* the
#   errors are; the most confident mistakes show *what* they are.
# - Measure calibration (ECE, reliability diagram) before repairing it;
#   temperature scaling, fitted on validation data, changes confidences without
#   changing a single prediction. Here label smoothing had already done the job.
# - Transfer learning's advantage is largest when labels are scarce: the curve
#   above measures the source's central claim.
# - Accuracy on clean images does not tell you accuracy on corrupted ones: the
#   fine-tuned model, far better on clean images, lost most of its lead under
#   noise and blur.
#   Measure the shift you expect.
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
# Implement {eq}`eq-wilson` for $k$ correct out of $n$ with $z = 1.96$. What
# does the plain normal interval $\hat p \pm z\sqrt{\hat p(1-\hat p)/n}$ give
# for 0 correct out of 20, and why is that absurd?

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
# train a quick linear probe (`run(get_config(epochs=2), strategy="linear")`),
# fit $T$ on its validation logits and measure the test ECE before and after.

# %% tags=["exercise"]
# BEGIN SOLUTION stub: answer = {"accuracy_changes": ..., "ece_before": ..., "ece_after": ...}
quick = get_config(epochs=2)
_, val_set, test_set = load_data(quick)
probe_run = run(quick, strategy="linear")
val_z = predict_logits(probe_run.model.eval(), val_set.images, preprocessing=probe_run.preprocessing)
test_z = predict_logits(probe_run.model, test_set.images, preprocessing=probe_run.preprocessing)
t = fit_temperature(val_z, val_set.labels)
answer = {
    "accuracy_changes": False,
    "ece_before": expected_calibration_error(test_z.softmax(dim=1), test_set.labels),
    "ece_after": expected_calibration_error((test_z / t).softmax(dim=1), test_set.labels),
}
# END SOLUTION
check("5.3", answer)
