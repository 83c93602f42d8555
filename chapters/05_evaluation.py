# %% [markdown]
# # Evaluation: one test, honest numbers, and what accuracy hides
#
# :::{admonition} In this chapter
# :class: tip
# **You will learn** to touch the test set once, with deterministic
# preprocessing; to report accuracy with a confidence interval; to read
# per-class precision, recall and F1, the confusion matrix and the most confident
# mistakes; to measure and repair calibration; how accuracy grows with labelled
# data, pretrained versus from scratch; and how robust the model is to common
# corruptions.
#
# **Runtime**: about 5 minutes on a 2-core CPU (`cpu` preset); the
# data-efficiency curve is computed by `python -m tlbook study curve` and loaded.
# :::
#
# DRAFT (not built yet): needs book/results/curve-cpu.json and a budget check.

# %%
import torch

from tlbook import get_config
from tlbook.evaluation import (CORRUPTIONS, corrupt, expected_calibration_error, fit_temperature, most_confused,
                               per_class_scores, reliability, wilson_interval)
from tlbook.experiment import load_data, run
from tlbook.studies import load_or_run
from tlbook.train import evaluate, predict_logits

cfg = get_config()
print(cfg.describe())
train, val, test = load_data(cfg)

# %% [markdown]
# ## Train once, test once
#
# The model is selected on the validation split (20 images per class from
# CIFAR-10's training split); the test split is used once, below.

# %%
result = run(cfg, strategy="finetune")
ev = result.test
k = int((ev.predictions == ev.labels).sum())
lo, hi = wilson_interval(k, len(ev.labels))
print(f"test accuracy {ev.accuracy:.1%} ({k} of {len(ev.labels)}), 95 % interval {lo:.1%} to {hi:.1%}")

# %% [markdown]
# ## Per class

# %%
scores = per_class_scores(ev.confusion)
print(f"{'class':<12}{'precision':>10}{'recall':>8}{'F1':>7}")
for name, p, r, f in zip(ev.classes, scores["precision"], scores["recall"], scores["f1"]):
    print(f"{name:<12}{p:>10.2f}{r:>8.2f}{f:>7.2f}")
print("most confused (true -> predicted):", most_confused(ev.confusion, ev.classes, k=5))

# %% [markdown]
# ## Calibration and temperature scaling

# %%
pre = result.preprocessing
val_logits = predict_logits(result.model.eval(), val.images, preprocessing=pre)
test_logits = predict_logits(result.model, test.images, preprocessing=pre)
T = fit_temperature(val_logits, val.labels)
print(f"temperature fitted on validation: {T:.2f}")
print(f"ECE before: {expected_calibration_error(test_logits.softmax(1), test.labels):.3f}, "
      f"after: {expected_calibration_error((test_logits / T).softmax(1), test.labels):.3f}")

# %% [markdown]
# ## Test-time augmentation

# %%
tta = evaluate(result.model, test, preprocessing=pre, hflip_tta=True)
print(f"without TTA {ev.accuracy:.1%}, with flip TTA {tta.accuracy:.1%}")

# %% [markdown]
# ## How accuracy grows with labelled data

# %%
curve = load_or_run("curve", cfg)

# %% [markdown]
# ## Robustness to corruptions

# %%
for kind in CORRUPTIONS:
    accs = []
    for severity in (1, 3, 5):
        shifted = type(test)(corrupt(test.images, kind, severity), test.labels, test.classes)
        accs.append(evaluate(result.model, shifted, preprocessing=pre).accuracy)
    print(f"{kind:<15}" + "  ".join(f"s{s}: {a:.1%}" for s, a in zip((1, 3, 5), accs)))
