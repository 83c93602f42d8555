# %% [markdown]
# # Cross-entropy fine-tuning: the loss, the strategies, and the source's recipe repaired
#
# :::{admonition} In this chapter
# :class: tip
# **You will learn** what `nn.CrossEntropyLoss` computes and why its gradient is
# $p - \mathrm{onehot}(y)$; why the binary formula in the source is a different
# loss; a complete fine-tuning loop in plain PyTorch; how to choose a learning
# rate (the finder and a sweep on validation data) and what the schedule looks
# like; how to fine-tune (linear probe, partial unfreezing, full fine-tuning,
# discriminative and layer-wise learning rates, head first then unfreeze,
# BatchNorm in inference mode) and what each buys on 100 images per class; the BatchNorm trap when freezing; and what
# each flaw of the source's recipe costs.
#
# **Runtime**: <!-- runtime --><!-- /runtime -->: the plain loop's training run and
# the learning-rate finder.
# On a GPU the training takes seconds, and installing the package and loading
# the data and weights take most of the time (not timed: this project has had
# no GPU to measure on).
# The multi-run tables are computed by `python -m tlbook study ...` (each study's
# run time is on the {doc}`reproduce` page) and loaded from the saved results that
# come with the package; in other presets this notebook computes them itself.
#
# **Presets**: the outputs shown come from the `cpu` preset, and every runtime
# runs that preset unless you ask for another, Colab's GPU runtime too (where it
# is much faster). For all of CIFAR-10 at 224 px run `%env TLBOOK_PRESET=full`
# before the first `get_config()` (hours even on a GPU; see {doc}`scaling`), or
# `smoke` for a seconds-long plumbing check.
# :::
#
# ## The loss, done right
#
# The network ends in a head that outputs one number per class, the *logits*
# $z \in \mathbb{R}^K$. **Softmax** turns them into probabilities,
#
# $$
# p_k = \frac{e^{z_k}}{\sum_{j=1}^{K} e^{z_j}}, \qquad \sum_k p_k = 1,
# $$ (eq-softmax)
#
# and **categorical cross-entropy** is the average negative log-probability of the
# true class over a batch of $N$ images:
#
# $$
# L = -\frac{1}{N}\sum_{i=1}^{N} \log p_{i, y_i}.
# $$ (eq-ce)
#
# This is exactly what `nn.CrossEntropyLoss` computes from logits. Its gradient is
# remarkably simple. For one image, $\log p_y = z_y - \log\sum_j e^{z_j}$, so
#
# $$
# \frac{\partial (-\log p_y)}{\partial z_k} = -\mathbb{1}[k = y] + \frac{e^{z_k}}{\sum_j e^{z_j}}
# = p_k - \mathbb{1}[k = y],
# $$ (eq-ce-grad)
#
# the predicted distribution minus the one-hot target, divided by $N$ for the
# batch mean. A confident correct prediction produces almost no gradient; a
# confident wrong one produces a large one. `tlbook.losses` writes these formulas
# out; autograd agrees:

# %% tags=["nbval-check-output"]
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from tlbook import get_config
from tlbook.losses import (
    cross_entropy,
    cross_entropy_grad,
    one_vs_rest_bce,
    smoothed_targets,
)

g = torch.Generator().manual_seed(0)
z = torch.randn(6, 10, generator=g) * 2  # logits of 6 images, 10 classes
y = torch.randint(0, 10, (6,), generator=g)
z_auto = z.clone().requires_grad_(True)
F.cross_entropy(z_auto, y).backward()
print(
    f"cross_entropy (ours) = {cross_entropy(z, y):.6f},  F.cross_entropy ="
    f" {F.cross_entropy(z, y):.6f}"
)
print(
    "gradient (p - onehot(y)) / N equals autograd:",
    torch.allclose(cross_entropy_grad(z, y), z_auto.grad, atol=1e-7),
)

# %% [markdown]
# ### The source's binary formula is a different loss
#
# The source writes $L = -[y\log\hat y + (1-y)\log(1-\hat y)]$, the *binary*
# cross-entropy. Applied to ten classes it means ten independent yes/no questions,
# each with its own sigmoid $\hat y_k = \sigma(z_k)$: the probabilities need not sum
# to one, and pushing the true class up does not push the others down. Its
# gradient is $\sigma(z_k) - \mathbb{1}[k=y]$ per class. It is the loss of
# multi-*label* classification (an image may be both "cat" and "indoor"). The code
# the source shows trains with `nn.CrossEntropyLoss`, which is the softmax loss of
# {eq}`eq-ce`. On the same logits the two give different values and different
# gradients:

# %% tags=["nbval-check-output"]
z_bce = z.clone().requires_grad_(True)
one_vs_rest_bce(z_bce, y).backward()
print(f"softmax cross-entropy:      {cross_entropy(z, y):.4f}")
print(f"one-vs-rest binary (source): {one_vs_rest_bce(z, y):.4f}")
print("same gradient?", torch.allclose(z_bce.grad, z_auto.grad * len(y), atol=1e-4))

# %% [markdown]
# ### Label smoothing and the starting point
#
# **Label smoothing** {cite}`szegedy2016rethinking` replaces the one-hot target
# by a mixture with the uniform distribution,
# $t = (1-\varepsilon)\,\mathrm{onehot}(y) + \varepsilon/K$, so the loss becomes $-\sum_k t_k \log p_k$ and its gradient
# $p - t$. The network is no longer rewarded for pushing one logit to infinity,
# which tends to improve calibration (chapter 5). The book uses $\varepsilon = 0.1$.
#
# A freshly initialised head outputs logits near zero, so every class gets
# $p_k \approx 1/K$ and the loss starts near $\ln K = \ln 10 \approx 2.303$. A
# first loss far from that value means a bug (wrong labels, unnormalised input, a
# head that is not new).

# %% tags=["nbval-check-output"]
print(
    "label-smoothed target for class 2 of 5, eps = 0.1:",
    [round(v, 4) for v in smoothed_targets(torch.tensor([2]), 5, 0.1)[0].tolist()],
)
print(
    f"loss of all-zero logits: {cross_entropy(torch.zeros(4, 10), torch.arange(4)):.4f}"
    f"  (ln 10 = {torch.log(torch.tensor(10.0)):.4f})"
)

# %%
from tlbook.backbones import create_model, preprocessing_for
from tlbook.augment import preprocess
from tlbook.experiment import load_data

cfg = get_config()
print(cfg.describe())
train, val, test = load_data(cfg)
pre = preprocessing_for(cfg.backbone, cfg.image_size)
torch.manual_seed(cfg.seed)  # the new head's random weights, the same on every run
model = create_model(cfg.backbone, num_classes=10).eval()
from tlbook.data import stratified_indices
from tlbook.config import LANGUAGES
from tlbook.plots import glue, glue_sentence

# Ten images of each class (the training images come sorted by class:
# the first 100 are all one class).
batch = stratified_indices(train.labels, min(10, *train.counts()), seed=0)
with torch.no_grad():
    logits = model(
        preprocess(train.images[batch], size=pre.size, mean=pre.mean, std=pre.std)
    )  # (100, 10)
first_loss = glue(
    "first_loss", round(float(F.cross_entropy(logits, train.labels[batch])), 3)
)
logit_std = glue("first_logit_std", round(float(logits.std()), 2))
print(f"first loss of the new head on real images: {first_loss:.3f}  (ln 10 = 2.303)")
print(f"spread (standard deviation) of its logits: {logit_std:.2f}")
uniform = F.cross_entropy(torch.zeros_like(logits), train.labels[batch])
print(f"the same images with all-zero logits: {uniform:.3f}")

# %% [markdown]
# The first loss, {glue:text}`first_loss:.3f` on ten images of each class, is near
# $\ln 10$, the loss of a head that knows nothing, but not equal to it, and that is
# not a bug. "Logits near zero" assumes a head that sees small inputs; here the new
# head receives 1,280 real pretrained features, and its random weights turn them
# into logits with a spread of {glue:text}`first_logit_std:.2f`. Random logits of
# that size make some classes confident by chance, right or wrong, which moves the
# average loss away from the uniform $\ln 10$ (the last line: the same images
# scored with all-zero logits). The rule of thumb is about order of magnitude: a
# first loss of 2 to 3 is a head that knows nothing yet; one of 0.1 or 20 means a
# bug.
#
# ## A fine-tuning loop in plain PyTorch
#
# Before the library's `fit` does the work, here is the whole of fine-tuning in
# plain PyTorch, short enough to copy into your own project: a model with
# pretrained weights and a new head, AdamW, a learning rate that warms up and
# then decays, label-smoothed cross-entropy, `train()` and `eval()` in the right
# places, the memory layout convolutions run fastest in (`channels_last`), a
# validation pass after every epoch, and the weights of the best
# validation epoch kept. Only the first line uses `tlbook`, to load the
# offline weights (with internet, `timm.create_model("tf_efficientnet_lite0",
# pretrained=True)` does the same); the images are this chapter's tensors, and
# augmentation is torchvision's, applied per image.

# %%
import copy
import math

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

torch.manual_seed(cfg.seed)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
net = create_model(cfg.backbone, num_classes=10).to(device)  # pretrained, new head
# Channels last: the layout oneDNN's and cuDNN's convolutions are fastest in
# (about 1.6x per epoch here on the CPU); the inputs follow it below.
net = net.to(memory_format=torch.channels_last)
fast = dict(device=device, memory_format=torch.channels_last)
eval_batch = 256 if device.type == "cuda" else 16  # small batches: faster on a CPU
mean, std = pre.mean, pre.std  # the weights' own preprocessing (chapter 3)


class Images(
    Dataset
):  # uint8 tensors (N, 3, H, W) -> normalised, augmented (3, S, S) floats
    def __init__(self, images, labels, train: bool):
        resize = [v2.Resize(cfg.image_size, antialias=True)]
        augment = [
            v2.RandomHorizontalFlip(),
            v2.RandomAffine(degrees=0, translate=(0.1, 0.1), scale=(1.0, 1.3)),
        ]
        self.images, self.labels = images, labels
        self.transform = v2.Compose(
            resize
            + (augment if train else [])
            + [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
        )

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


train_loader = DataLoader(
    Images(train.images, train.labels, True), batch_size=cfg.batch_size, shuffle=True
)
val_loader = DataLoader(Images(val.images, val.labels, False), batch_size=eval_batch)
optimizer = torch.optim.AdamW(
    net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
)
steps = cfg.epochs * len(train_loader)
warmup = max(1, steps // 10)  # linear warm-up over 10 % of the steps, then cosine decay
schedule = torch.optim.lr_scheduler.LambdaLR(
    optimizer,
    lambda s: (
        (s + 1) / warmup
        if s < warmup
        else 0.5 * (1 + math.cos(math.pi * (s - warmup) / (steps - warmup)))
    ),
)
best_acc, best_weights = -1.0, None
for epoch in range(cfg.epochs):
    net.train()  # BatchNorm uses batch statistics, dropout is on
    for x, y in train_loader:
        x, y = x.to(**fast), y.to(device)  # the batch goes where the model is
        loss = F.cross_entropy(net(x), y, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    net.eval()  # BatchNorm uses its running statistics, dropout is off
    with torch.no_grad():
        correct = sum(
            int((net(x.to(**fast)).argmax(1).cpu() == y).sum()) for x, y in val_loader
        )
    if correct / len(val) > best_acc:
        best_acc, best_weights = correct / len(val), copy.deepcopy(net.state_dict())
    print(
        f"epoch {epoch + 1}: last training loss {loss.item():.3f}, validation accuracy"
        f" {correct / len(val):.1%}"
    )
net.load_state_dict(best_weights)
net.eval()
with torch.no_grad():
    correct = sum(
        int((net(x.to(**fast)).argmax(1).cpu() == y).sum())
        for x, y in DataLoader(
            Images(test.images, test.labels, False), batch_size=eval_batch
        )
    )
plain_acc = correct / len(test)
print(
    f"plain PyTorch loop: test accuracy {plain_acc:.1%} (best validation epoch kept:"
    f" {best_acc:.1%})"
)

# %% [markdown]
# The same recipe through `tlbook`'s `fit` (run by `tlbook.experiment.run`), with
# the same data, seed and settings, is the strategies study's full fine-tuning run
# for this seed, loaded below. `fit` adds what the loop above leaves out:
# augmentation, resizing and normalisation of a whole batch in one
# `grid_sample` call on the model's device (about six times faster than
# torchvision's per-image transforms on 32-pixel images, {doc}`benchmarks`),
# mixed precision on a GPU, per-group learning
# rates for freezing, discriminative and layer-wise rates, no weight decay on biases and
# normalisation weights, and a record of every epoch. Two differences remain:
# the loop's `RandomAffine` fills the border a shift or zoom uncovers with black,
# where `fit` reflects the image into it, and its augmentation draws are its own.
# So the two runs are the same recipe up to the border fill and the luck of the
# draws, and should agree within a seed's spread, a couple of points.

# %%
from tlbook.studies import load_or_run

study = load_or_run("strategies", cfg)
fit_acc = next(
    r["test_accuracy"]
    for r in study
    if r["strategy"] == "finetune" and r.get("seed", cfg.seed) == cfg.seed
)
glue("plain_loop", round(100 * plain_acc, 1))
glue("fit_loop", round(100 * fit_acc, 1))
print(
    f"plain PyTorch loop {plain_acc:.1%}, tlbook's fit {fit_acc:.1%} (seed {cfg.seed},"
    f" {len(test)} test images)"
)

# %% [markdown]
# The plain loop reaches {glue:text}`plain_loop:.1f` % and `fit`
# {glue:text}`fit_loop:.1f` % on the same test images.
#
# ### The schedule, drawn
#
# Both loops raise the learning rate linearly over the first tenth of the steps
# (the *warm-up*: the new head's first, random gradients would otherwise shake the
# pretrained weights) and then lower it along half a cosine to nearly zero. `fit`'s
# schedule is called `warmup_cosine`; it has the shape of PyTorch's `OneCycleLR`
# without its momentum cycling:

# %% figure={"caption": "The learning rate of every optimiser step in the preset's recipe: a linear warm-up (shaded), then a cosine decay; grey lines mark epochs.", "name": "fig-schedule", "alt": "A line rising straight from near zero to the peak learning rate over the shaded first tenth of the steps, then falling along a smooth S-shaped curve to nearly zero at the last step."}
from tlbook.experiment import recipe_for
from tlbook.plots import plot_schedule
from tlbook.train import steps_per_epoch

plot_schedule(
    recipe_for(cfg, "finetune"),
    steps_per_epoch=steps_per_epoch(len(train), cfg.batch_size),
)

# %% [markdown]
# ### Finding a learning rate
#
# The learning rate is the setting that matters most. The *learning-rate
# finder* (the range test that fastai popularised) trains for a few dozen batches
# while the rate grows exponentially (thirty-six here, over three decades: fastai's
# density of twelve per decade), and plots the loss: too small and nothing
# happens, too large and the loss explodes; the steepest descent in between is a
# reasonable starting point. `tlbook.lr_finder.find_lr` runs it; the book's rates
# are then chosen among a few candidates by **validation** accuracy (the sweep
# on the {doc}`reproduce` page), never by the test set.

# %% figure={"caption": "The learning-rate finder on the preset's data: smoothed training loss against an exponentially growing learning rate, the finder's suggestion, and the rate chosen on validation accuracy.", "name": "fig-lr-finder", "alt": "A loss curve on a logarithmic learning-rate axis: flat at small rates, falling in the middle, rising steeply at the largest rates; two vertical lines mark the suggestion and the rate chosen on validation."}
from tlbook.backbones import param_groups
from tlbook.plots import plot_lr_finder
from tlbook.lr_finder import find_lr

finder_model = create_model(cfg.backbone, num_classes=10)
finder = find_lr(
    finder_model,
    train,
    preprocessing=pre,
    recipe=recipe_for(cfg, "finetune"),
    param_groups=param_groups(
        finder_model, cfg.backbone, lr=1.0, weight_decay=cfg.weight_decay
    ),
    start=1e-4,
    end=0.1,
    steps=min(36, 10 * steps_per_epoch(len(train), cfg.batch_size)),
)
sweep = load_or_run("sweep", cfg)
glue("finder_suggestion", float(f"{finder.suggestion:.2g}"))
for r in (r for r in sweep if r["strategy"] == "finetune"):
    print(
        f"learning rate {r['lr']:g}: best validation accuracy {r['val_accuracy']:.1%}"
    )
print(f"finder's suggestion {finder.suggestion:.2g}; chosen on validation {cfg.lr:g}")
plot_lr_finder(finder, chosen=cfg.lr)

# %% [markdown]
# The finder suggests about {glue:text}`finder_suggestion`; validation accuracy
# chose the rate printed above among its candidates. The finder is a quick way to
# find the right order of magnitude from one short run; the choice among nearby
# rates needs the validation set, because the finder measures how fast the
# *training* loss falls in the first steps, not how well the model generalises.
#
# :::{admonition} Mixed precision, where `fit` uses it
# :class: note
# On a GPU, `fit` runs the network's matrix products and convolutions in 16-bit
# floating point, where the tensor cores are (`torch.autocast`): about twice the
# speed and half the activation memory. The weights, the optimiser's state and the
# loss stay in float32, so the recipe, the learning rates and the results do not
# change beyond the last digits. On GPUs with bfloat16 (Ampere and later) it uses
# bfloat16, which has float32's range; on older ones such as Colab's T4 it uses
# float16 with a *gradient scaler*, which multiplies the loss before the backward
# pass so that small gradients do not round to zero, and divides them again
# before the step (`tlbook.devices.autocast_dtype`). On a CPU everything stays
# float32.
# :::
#
# ## The source's recipe, and what each fix buys
#
# The source trains ResNet-18 on all of CIFAR-10 with: random flip and 10°
# rotation, `Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))`, 32-pixel inputs, SGD with
# learning rate 0.001 and momentum 0.9, batch 100, 10 epochs, and an evaluation
# loop that applies the same random augmentation to the test images and never
# calls `model.eval()`. Three more slips in its code, which this book's code
# avoids: `resnet18(pretrained=True)` is deprecated in torchvision (the weights
# enum `ResNet18_Weights.IMAGENET1K_V1` replaces it, and carries the weights' own
# preprocessing); the progress line `if i % 2000 == 1999` never prints, because
# an epoch of 50,000 images in batches of 100 has only 500 batches; and nothing
# is moved to a GPU (`.to(device)` appears nowhere), so the code trains on the
# CPU even where a GPU is available.
#
# The ladder below runs **the source's recipe on this book's data and backbone**
# (EfficientNet-Lite0, the preset's 1,000 training images), not ResNet-18 on
# 50,000 images, and then repairs it one change at a time, each rung keeping the
# ones before ("ablation ladder"). Each rung changes one thing: the evaluation's
# two flaws are separate rungs (`model.eval()`, then no random transforms on the
# test images), and so are the optimiser, the batch size, weight decay and the
# schedule. Before SGD is replaced, it gets a learning rate of its own, chosen on
# validation images among five (the source's 0.001 up to 0.1), so that the
# optimiser's rung measures the optimiser, not SGD's untuned rate; AdamW then
# uses the preset's rate, which the sweep chose on validation for the book's full
# recipe. To isolate each change, no rung picks a best epoch on validation data:
# every rung trains for the same fixed number of epochs, far less training than
# the source's (the table prints each rung's optimiser steps against the source's
# 10 epochs × 500 batches). A rung that changes nothing is left out: the weights'
# own mean and standard deviation are, for EfficientNet-Lite0, exactly the
# source's `Normalize(0.5)` (chapter 3), so that fix, real for the source's
# ResNet-18, has no rung here. The whole ladder runs for several seeds (other
# images, other initial head), and each rung is compared with the one above it
# by the paired test over seeds that chapter 5 explains.

# %%
from tlbook.studies import SOURCE_STEPS, ladder_verdicts, strategy_summary

ladder_rows = load_or_run("ladder", cfg)
ladder = strategy_summary(ladder_rows, key="step")  # rung -> mean, std, seeds
names = list(ladder)
steps = {r["step"]: r["steps"] for r in ladder_rows}
seeds = ladder[names[0]]["seeds"]
print(f"{'rung':<46}{'test acc':>9}{'gain':>7}{'steps':>7}   (mean of {seeds} seeds)")
for prev, name in zip([None] + names[:-1], names):
    m = ladder[name]["mean"]
    gain = "" if prev is None else f"{100 * (m - ladder[prev]['mean']):+.1f}"
    print(f"{name:<46}{100 * m:>8.1f}%{gain:>7}{steps[name]:>7}")
print()
for name, said in ladder_verdicts(ladder_rows).items():
    print(f"{name}: {said}")
grid = next(r for r in ladder_rows if "lr_candidates" in r)
print(
    f"\nSGD's rate, chosen on the validation images of seed {grid['seed']}: "
    + ", ".join(
        f"{lr}: {'diverged' if a is None else f'{a:.1%}'}"
        for lr, a in grid["lr_candidates"].items()
    )
)
said = {lang: ladder_verdicts(ladder_rows, language=lang) for lang in LANGUAGES}
for key, fragment in (
    ("eval", "model.eval()"),
    ("tta", "no random transforms"),
    ("size", "input size"),
    ("sgd", "SGD's rate"),
    ("adamw", "AdamW"),
    ("batch", "batch size"),
    ("schedule", "cosine"),
):
    rung = next((n for n in names if fragment in n), None)
    if (
        rung is None
    ):  # a rung that changes nothing in this preset (smoke: 32 px already)
        continue
    before = names[names.index(rung) - 1]
    glue(f"ladder_{key}", round(100 * ladder[rung]["mean"], 1))
    glue(
        f"ladder_{key}_gain",
        round(100 * (ladder[rung]["mean"] - ladder[before]["mean"]), 1),
    )
    glue_sentence(f"ladder_{key}_verdict", lambda lang, rung=rung: said[lang][rung])
glue("ladder_seeds", seeds)
glue("ladder_source", round(100 * ladder[names[0]]["mean"], 1))
glue("ladder_book", round(100 * ladder[names[-1]]["mean"], 1))
glue(
    "ladder_gain",
    round(100 * (ladder[names[-1]]["mean"] - ladder[names[0]]["mean"]), 1),
)
glue("ladder_steps", steps[names[-1]])
glue("source_steps", SOURCE_STEPS)
glue("ladder_sgd_lr", grid["lr"])

# %% figure={"caption": "The ablation ladder: mean test accuracy over seeds after each change, cumulatively, with each rung's gain over the rung above and the standard deviation over seeds, on 100 training images per class.", "name": "fig-ladder", "alt": "Horizontal bars with error bars, one per rung of the ladder from the source recipe at the top (about 16 %) to the book's recipe at the bottom (about 74 %), each labelled with its mean accuracy and its gain in points. model.eval() lifts the source to about 27 %, dropping the random test transforms changes little, the preset's input size reaches about 37 %, and the largest jump, about 31 points to 68 %, is the rung that gives SGD a rate chosen on validation; AdamW adds about 2 points, the smaller batch loses about 2, and warm-up with cosine decay adds about 4."}
from tlbook.plots import accuracy_bars

accuracy_bars(
    {n: ladder[n]["mean"] for n in names},
    errors={n: ladder[n]["std"] for n in names},
    chance=0.1,
    show_gains=True,
    title=f"source recipe, then one change at a time (mean of {seeds} seeds)",
)

# %% [markdown]
# Reading the ladder: the source's recipe, run on this book's 1,000 images for
# {glue:text}`ladder_steps` optimiser steps at most (the source takes
# {glue:text}`source_steps`), learns little, and the book's recipe ends
# {glue:text}`ladder_gain:.1f` points higher on average over
# {glue:text}`ladder_seeds` seeds. The sentence printed for each rung is the test
# over seeds against the rung before it: only a gain it calls "better" is one
# that another set of runs would repeat; "within the noise" names the smallest
# gap these seeds could resolve, so read those rungs as "no measurable effect on
# this budget", not as small effects.
#
# Four rungs deserve a word. The source's evaluation only *measures* worse: the
# model is the same. `model.eval()` alone adds
# {glue:text}`ladder_eval_gain:.1f` points, because BatchNorm then normalises
# with the running statistics it learnt instead of each test batch's own; then
# dropping the random flips and rotations from the test images changes
# {glue:text}`ladder_tta_gain:+.1f` points; over seeds,
# {glue:text}`ladder_tta_verdict`. The network was trained on such images, so
# they do not confuse it; but a test that changes with its random seed cannot
# compare two models. The input size
# lets the ImageNet features work at all ({glue:text}`ladder_size_gain:+.1f`
# points; chapter 3's linear probe at 32 pixels is far below its value at the
# preset's size). And the largest jump is not the optimiser: it is giving SGD a
# learning rate chosen on validation ({glue:text}`ladder_sgd_lr` instead of the
# source's 0.001, {glue:text}`ladder_sgd_gain:+.1f` points). With that rate SGD
# reaches {glue:text}`ladder_sgd:.1f` % and AdamW at the preset's rate
# {glue:text}`ladder_adamw:.1f` %; over seeds, {glue:text}`ladder_adamw_verdict`. The
# source's recipe was short of a learning rate far more than of an optimiser.
#
# A ladder measures each change in the context of the rungs before it, so a
# rung's gain is not that change's value everywhere. Here, with a constant
# rate, the preset's smaller batch (twice the steps) changes the accuracy by
# {glue:text}`ladder_batch_gain:+.1f` points (over seeds,
# {glue:text}`ladder_batch_verdict`), and warm-up with cosine decay, the
# next-but-one rung, adds
# {glue:text}`ladder_schedule_gain:+.1f`: with the schedule in place first, the
# batch size's rung could look different.
#
# ## Strategies: how much of the network to train
#
# With the book's recipe, eight ways to use the pretrained network, on the same
# data and the same number of epochs, each at its own learning rate, chosen on
# validation data (the sweep on the {doc}`reproduce` page), and each repeated with
# several seeds (other training, validation and test images, other initial head;
# the table says which):
#
# | strategy | trains | idea |
# | --- | --- | --- |
# | `linear` (linear probe) | the head only; backbone frozen, BatchNorm in eval mode | the features are good as they are |
# | `partial` | the last two stages and the head | late layers are task-specific, early ones generic |
# | `finetune` (full) | everything, one learning rate | adapt all features a little |
# | `finetune_bn_eval` | everything, one learning rate, BatchNorm in inference mode | the same, with ImageNet's normalisation statistics kept |
# | `discriminative` | everything; the head's learning rate 10x the backbone's | adapt the backbone more slowly than the new head |
# | `layerwise` | everything; each stage at 0.75x the rate of the stage above it | protect the early layers more than the late ones |
# | `head_first` | the head alone for a quarter of the epochs, then everything, BatchNorm in inference mode | do not let a random head's gradients disturb the backbone |
# | `head_first_bn_train` | the same, but BatchNorm uses batch statistics again once unfrozen | the one choice the Keras guide warns against |
# | `scratch` | everything, random start | the baseline without transfer |
#
# The last pretrained strategies are the everyday practice of other courses.
# *Head first, then unfreeze* follows the two phases of the Keras guide
# {cite}`chollet2020transfer`: train the new head on the frozen backbone (here at
# the linear probe's rate, for 2 of the 8 epochs), then unfreeze and fine-tune
# everything for the rest of the same budget, with every BatchNorm layer kept in
# inference mode (the guide calls the base model with `training=False`): the
# layers' scale and shift learn, their statistics stay ImageNet's. It differs
# from the guide in one way: the guide's second phase uses a constant, very low
# rate (Adam at $10^{-5}$), ours a rate chosen on validation, with warm-up and
# cosine decay. fastai's `fine_tune` {cite}`howard2020fastai`, the other common
# recipe, differs more: its BatchNorm layers train in both phases, and after
# unfreezing the backbone learns at rates down to a hundredth of the head's.
# `head_first_bn_train` is the book's head first with BatchNorm training again
# once unfrozen, to measure that one choice. *Layer-wise*
# learning rates (`Recipe.layer_decay`) refine the discriminative idea: instead
# of two levels, the rate shrinks geometrically from the head down to the stem,
# whose rate ends at $0.75^8 \approx 0.1$ of the head's, the same ratio as
# `discriminative` uses for the whole backbone. The ratio and the head-only share
# are design choices; each strategy's peak rate is chosen on validation data.

# %%
import re

from tlbook.studies import (
    STRATEGY_COMPARISONS,
    chosen_by_validation,
    scratch_budget,
    scratch_rest_sentence,
    scratch_sentence,
    strategy_summary,
    verdict,
)

rows = load_or_run("strategies", cfg)
summary = strategy_summary(rows)
seeds = sorted({r.get("seed", cfg.seed) for r in rows})
print(
    f"{'strategy':<42}{'test acc (mean)':>16}{'sd':>6}{'trainable params':>18}   (seeds"
    f" {seeds})"
)
for name, s in summary.items():
    r = next(r for r in rows if r["strategy"] == name)
    mean, sd, trainable = 100 * s["mean"], 100 * s["std"], r["trainable_parameters"]
    print(f"{name:<42}{mean:>15.1f}%{sd:>6.1f}{trainable:>18,}")
trap = next(name for name in summary if "trap" in name)
print("\npaired comparisons over seeds (the unit is the training run):")
for a, b in STRATEGY_COMPARISONS:
    if a in summary and b in summary and all("correct" in r for r in rows):
        sentence = glue_sentence(
            re.sub(r"\W+", "_", f"verdict_{a}_{b}").strip("_"),
            lambda lang, a=a, b=b: verdict(rows, a, b, language=lang),
        )
        print("  " + sentence)
# The from-scratch baseline given the compute it needs: its own study, the schedule
# chosen on validation.
scratch_rows = load_or_run("scratch", cfg)
budget = scratch_budget(scratch_rows)
glue_sentence(
    "scratch_budget_sentence", lambda lang: scratch_sentence(budget, language=lang)
)
glue("scratch_budget_acc", round(100 * budget["test_accuracy"], 1))
glue("scratch_budget_seeds", len(budget["seeds"]))
glue("scratch_budget_scale", budget["scale"])
both = [r for r in rows if r["strategy"] == "finetune"] + [
    r for r in scratch_rows if r["strategy"] == budget["strategy"]
]
print(
    f"\nfrom scratch, schedule chosen on validation: {budget['strategy']}, "
    f"{budget['test_accuracy']:.1%} on test (mean of seeds {budget['seeds']})"
)
print(
    "  "
    + glue_sentence(
        "verdict_finetune_scratch_budget",
        lambda lang: verdict(both, "finetune", budget["strategy"], language=lang),
    )
)
# How much of the gap at the same budget the extra compute closes, over the budget's
# seeds.
same_seeds = strategy_summary(
    [
        r
        for r in rows
        if r["strategy"] in ("finetune", "scratch")
        and r.get("seed", cfg.seed) in budget["seeds"]
    ]
)
gap = same_seeds["finetune"]["mean"] - same_seeds["scratch"]["mean"]
closed = (
    (budget["test_accuracy"] - same_seeds["scratch"]["mean"]) / gap if gap > 0 else 0.0
)
glue("scratch_budget_closed", round(100 * closed))
glue_sentence(
    "scratch_budget_rest",
    lambda lang: scratch_rest_sentence(budget, language=lang),
)
for name in (
    "finetune",
    "finetune_bn_eval",
    "linear",
    "scratch",
    "head_first",
    "head_first_bn_train",
    "layerwise",
):
    glue(f"strategy_{name}", round(100 * summary[name]["mean"], 1))
for name in ("head_first", "head_first_bn_train"):  # the BatchNorm choice
    glue(
        f"{name}_val", round(100 * chosen_by_validation(sweep, name)["val_accuracy"], 1)
    )
disc = recipe_for(cfg, "discriminative")  # the rates the study trained with
glue("disc_head_lr", f"{disc.lr:g}")
glue("disc_backbone_lr", f"{disc.lr * disc.backbone_lr_scale:g}")
glue("finetune_lr", f"{recipe_for(cfg, 'finetune').lr:g}")
glue("disc_head_ratio", f"{disc.lr / recipe_for(cfg, 'finetune').lr:g}")
trap_cost = glue(
    "trap_cost", round(100 * (summary["linear"]["mean"] - summary[trap]["mean"]), 1)
)

# %% figure={"caption": "Test accuracy of each strategy, mean over seeds with the standard deviation as error bars.", "name": "fig-strategies", "alt": "Horizontal bars, one per strategy, with error bars of one to two points: the two strategies with BatchNorm in inference mode, full fine-tuning (finetune_bn_eval) and head first, are the longest, near 80 %; partial, full, layer-wise, head first with BatchNorm training again and discriminative lie between about 70 and 74 %; the linear probe near 66 %, the BatchNorm trap near 52 %, scratch with four times the epochs (one seed, no error bar) near 45 %, and scratch at the same budget is the shortest, near 36 %."}
accuracy_bars(
    {k: v["mean"] for k, v in summary.items()},
    errors={k: v["std"] for k, v in summary.items()},
    chance=0.1,
    title=f"strategies, mean of {len(seeds)} seed(s)",
)

# %% figure={"caption": "Learning curves of fine-tuning against training from scratch (first seed): training (dashed) and validation (solid) loss and accuracy per epoch, for the same budget and for the from-scratch network given four times the epochs.", "name": "fig-learning-curves", "alt": "Two line charts over the epochs. Fine-tuning's validation accuracy is high from the first epoch and levels off; from scratch it starts near chance and climbs slowly, and even with four times the epochs it stays far below fine-tuning."}
from tlbook.plots import plot_history
from tlbook.train import History

first = seeds[0]
plot_history(
    {
        r["strategy"]: History.from_dict(r["history"])
        for r in rows
        if r["strategy"].startswith(("finetune", "scratch")) and r.get("seed") == first
    }
)

# %% [markdown]
# Full fine-tuning reaches {glue:text}`strategy_finetune:.1f` % on average, the
# linear probe {glue:text}`strategy_linear:.1f` % and the same network from
# scratch {glue:text}`strategy_scratch:.1f` %. Which of the gaps between
# strategies are real? "Strategy A beats strategy B" is a claim about *training
# runs*: another seed draws other training images and another initial head, and
# the claim must hold for it too. So the unit of the test is the run: within a
# seed both strategies are scored on the same test images, which gives one paired
# difference per seed, and a paired t-test over the seeds asks whether those
# differences are consistently away from zero
# (`tlbook.studies.compare_strategies`; chapter 5 shows why pooling the seeds'
# images into one test would overstate it). The verdicts printed above come from
# that test, and each names the smallest gap its seeds can resolve; McNemar's
# test within each seed is on the {doc}`reproduce` page beside it.
#
# Is the network from scratch short of data, or only of compute? At the same
# budget it is still improving when training stops, so a study of its own
# (`tlbook.studies.scratch_schedules`) gives it 1, 4, 8 and 16 times the epochs,
# one schedule at a time over {glue:text}`scratch_budget_seeds` seeds, each run
# keeping its epoch with the best validation accuracy, and runs a longer
# schedule only while the longest so far still wins on validation: a baseline
# is *converged* when a longer schedule no longer helps. Here
# {glue:text}`scratch_budget_sentence`. With that budget the network from
# scratch reaches {glue:text}`scratch_budget_acc:.1f` % of the test images
# (mean of the seeds); against fine-tuning with the preset's budget,
# {glue:text}`verdict_finetune_scratch_budget`. The extra compute closes
# {glue:text}`scratch_budget_closed` % of the gap between the two at the same
# budget; {glue:text}`scratch_budget_rest`.
#
# Discriminative learning rates are usually explained as protecting the
# pretrained layers: the backbone learns ten times more slowly than the head.
# What was measured here is something else. The rates chosen on validation are
# {glue:text}`disc_head_lr` for the head and {glue:text}`disc_backbone_lr` for
# the backbone, and full fine-tuning's single rate is
# {glue:text}`finetune_lr`: the backbone learns at about the same rate in both
# (a little faster with discriminative rates), and the head learns
# {glue:text}`disc_head_ratio` times faster. So the comparison above measures a
# much faster head, not protected layers. Slower rates for the whole network
# were tried: the sweep's smaller peak rates for `discriminative`, which slow the
# backbone and the head together, did worse on validation (the {doc}`reproduce`
# page).
#
# The workflows of other courses fare as follows. Head first, then unfreeze
# reaches {glue:text}`strategy_head_first:.1f` %: compared with full fine-tuning
# from the start, seed by seed, {glue:text}`verdict_finetune_head_first`. The
# BatchNorm choice was made on validation: at its best rate, head first with
# BatchNorm in inference mode reached {glue:text}`head_first_val:.1f` % of the
# validation images and with BatchNorm training again
# {glue:text}`head_first_bn_train_val:.1f` % (seed 0; 200 images, so a point or
# two is noise); on the test images over seeds,
# {glue:text}`verdict_head_first_head_first_bn_train`. The same schedule with
# BatchNorm training again reaches {glue:text}`strategy_head_first_bn_train:.1f` %
# ({glue:text}`verdict_finetune_head_first_bn_train`), so the head-first phase
# alone does not explain the gain. Which part does? Full fine-tuning with
# BatchNorm in inference mode from the first step, without the head phase
# (`finetune_bn_eval`), reaches {glue:text}`strategy_finetune_bn_eval:.1f` %:
# against full fine-tuning, {glue:text}`verdict_finetune_bn_eval_finetune`;
# against head first, {glue:text}`verdict_head_first_finetune_bn_eval`. On this
# data and budget, then, the gain is BatchNorm's mode, and training the head
# first adds nothing these seeds can resolve: a backbone whose BatchNorm layers
# keep ImageNet's statistics while 1,000 upsampled CIFAR-10 images fine-tune it
# does better than one that re-estimates them from batches of 50. Note also
# that with BatchNorm in inference mode the larger rates of the sweep failed
# outright (the {doc}`reproduce` page), which is
# why the Keras guide fine-tunes at a very low rate. Layer-wise rates reach
# {glue:text}`strategy_layerwise:.1f` %: {glue:text}`verdict_finetune_layerwise`;
# against two-level discriminative rates,
# {glue:text}`verdict_layerwise_discriminative`. Both ideas protect the pretrained
# weights from large early updates; so does the warm-up of the book's schedule,
# in another way, which is why whether they add anything on top of it is a
# question to measure, not to assume. The verdicts above answer it for this
# data and budget only.
#
# Each run holds out 20 images per class of CIFAR-10's *training* split as a
# validation set, and keeps the weights of the epoch with the best validation
# accuracy; the test set is used once, for the numbers above. The curves show the
# typical picture with little data: training accuracy races towards 100 % while
# validation accuracy levels off, so the gap between them, not the training loss,
# tells how well a recipe generalises.
#
# ## The BatchNorm trap
#
# Freezing a layer with `requires_grad=False` stops its *weights* from changing.
# BatchNorm layers also carry *running statistics* (mean and variance of their
# inputs), which are buffers, not parameters: in `model.train()` mode they keep
# updating from every batch, and the layer normalises with each batch's own
# statistics. A "frozen" backbone then still changes, and its features at test
# time (running statistics) differ from those seen in training (batch
# statistics). Watch the first BatchNorm layer's running mean drift during a few
# forward passes in training mode, without a single optimiser step:

# %%
from tlbook.backbones import freeze, set_bn_eval


def drift_after(bn_eval: bool, batches: int = 5) -> float:
    m = create_model(cfg.backbone, num_classes=10)
    freeze(m, cfg.backbone)  # requires_grad=False for the whole backbone
    bn = next(mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    m.train()
    if bn_eval:
        set_bn_eval(m)  # what fit does after every model.train()
    with torch.no_grad():
        for i in range(batches):
            m(
                preprocess(
                    train.images[i * 20 : (i + 1) * 20],
                    size=pre.size,
                    mean=pre.mean,
                    std=pre.std,
                )
            )
    return float((bn.running_mean - before).abs().mean())


print(
    "parameters frozen only:          running mean moved by"
    f" {drift_after(bn_eval=False):.4f} on average"
)
print(
    "parameters + BatchNorm frozen:   running mean moved by"
    f" {drift_after(bn_eval=True):.4f}"
)

# %% [markdown]
# `tlbook.train.fit` calls `tlbook.backbones.set_bn_eval` after every
# `model.train()`: it puts each BatchNorm layer whose parameters are all frozen
# back into eval mode (the rule of fastai's function of the same name), so the
# linear probe really trains a head on fixed features. The last row of the strategies table above is the same linear
# probe with only the parameters frozen: it lands {glue:text}`trap_cost:.1f`
# points below the real linear probe (mean over seeds), although both train
# exactly the same 12,810 parameters.
#
# ## Accuracy per second: the frontier
#
# Every strategy above pays, for each training image in every epoch, a forward
# pass through the whole network and a backward pass through the part it
# trains. At a given size that is a fixed number of operations per image, so on
# a given machine there are three ways to more accuracy per second: fewer
# operations, more operations per second, or more accuracy per operation
# (better features for the same cost).
#
# A linear probe takes the first way to its end. With the backbone frozen and
# its BatchNorm in eval mode, an image's features never change, so
# `tlbook.probe` computes them once, without augmentation, and fits the head on
# that table: softmax regression by full-batch L-BFGS (a convex problem, no
# epochs), one head per L2 strength, the best on validation. The seconds saved
# can buy a bigger network of the same family, EfficientNet-Lite2 (the same
# provenance and preprocessing as Lite0, {doc}`03_backbone`; wider and deeper,
# so more operations per image), at a larger size. The
# frontier study times each recipe on the machine at hand. Its "seconds of
# training" count everything before the test set is read: for a probe, the
# features of the training *and* validation images and every candidate head.

# %%
from tlbook.plots import plot_accuracy_cost
from tlbook.studies import FRONTIER_GOALS, frontier_goals, frontier_summary

front = load_or_run("frontier", cfg)
recipes = frontier_summary(front)
print(f"{'recipe':<44}{'test acc (mean)':>16}{'sd':>6}{'seconds':>9}")
for name, m in recipes.items():
    mean, sd = 100 * m["mean"], 100 * m["std"]
    print(f"{name:<44}{mean:>15.1f}%{sd:>6.1f}{m['seconds']:>9.0f}")
machines = sorted({r["machine"] for r in front})
print(f"seeds {sorted({r['seed'] for r in front})}, measured on {'; '.join(machines)}")
goals = {lang: frontier_goals(front, language=lang) for lang in LANGUAGES}
for i, sentence in enumerate(goals["en"]):
    glue_sentence(f"frontier_goal_{i}", lambda lang, i=i: goals[lang][i])
    print(sentence)
# The cpu preset's recipe, and the most accurate one within the first goal's time.
preset = recipes[next(name for name in recipes if "cpu preset" in name)]
budget = glue("frontier_budget_s", round(FRONTIER_GOALS[0][1]))
fast = max(
    (name for name in recipes if recipes[name]["seconds"] <= budget),
    key=lambda name: recipes[name]["mean"],
)
glue("frontier_preset", round(100 * preset["mean"], 1))
glue("frontier_preset_s", round(preset["seconds"]))
glue("frontier_fast", fast)
glue("frontier_fast_acc", round(100 * recipes[fast]["mean"], 1))
glue("frontier_fast_s", round(recipes[fast]["seconds"]))
glue("frontier_fast_times", round(preset["seconds"] / recipes[fast]["seconds"], 1))
glue("frontier_seeds", len({r["seed"] for r in front}))
bn_eval = next((name for name in recipes if name.startswith("finetune_bn_eval")), None)
if bn_eval:
    glue("frontier_bn_eval", round(100 * recipes[bn_eval]["mean"], 1))

# %% figure={"caption": "The frontier: mean test accuracy over seeds against seconds of training on this machine (logarithmic axis), one point per recipe, with the standard deviation as error bars; the shaded corners are the two goals (at least that accuracy in at most that time).", "name": "fig-frontier", "alt": "Nine points, named in a legend beside the chart, on a logarithmic axis of seconds from a few seconds to about two minutes, with test accuracies between about 70 and 81 percent: the Lite0 probe at 112 px is the fastest and lowest; the three Lite2 probes reach about 75 to 76 percent in 13 to 44 seconds; the cpu preset's full fine-tuning sits near two minutes no higher than them; and the two fine-tunings with BatchNorm in inference mode (head first and finetune_bn_eval), at about the same seconds as the preset, are the highest, near 80 percent. No point lies inside either shaded goal corner, 78 percent within 30 seconds or 85 percent within 180 seconds."}
plot_accuracy_cost(
    {name: (m["seconds"], m["mean"], m["std"]) for name, m in recipes.items()},
    xlabel="seconds of training (log scale)",
    goals={f"goal: {100 * a:.0f} % in {t:.0f} s": (a, t) for a, t in FRONTIER_GOALS},
    legend=True,
    title=f"accuracy per second, mean of {len({r['seed'] for r in front})} seed(s)",
)

# %% [markdown]
# Each point is one recipe: its mean test accuracy over
# {glue:text}`frontier_seeds` seeds (each drawing its own images) against its
# mean seconds of training on the machine printed above. Within
# {glue:text}`frontier_budget_s` s, the most accurate recipe is
# {glue:text}`frontier_fast`: {glue:text}`frontier_fast_acc:.1f` % in
# {glue:text}`frontier_fast_s` s, where the `cpu` preset's full fine-tuning of
# Lite0 reaches {glue:text}`frontier_preset:.1f` % in
# {glue:text}`frontier_preset_s` s, {glue:text}`frontier_fast_times` times as
# long. The goals this study was set: {glue:text}`frontier_goal_0`;
# {glue:text}`frontier_goal_1`.
#
# Read the table for what does *not* buy accuracy here as well. CIFAR-10's
# images have 32 x 32 pixels: enlarging them adds operations but no detail. For
# Lite2, 224 and 260 px cost two to three and a half times the seconds of
# 160 px, and their means differ from it by less than the seeds' standard
# deviations; Lite0 still gains from 224 px, but does not reach Lite2 at 160.
# At the fast end, better features, not more pixels or more epochs, moved this
# frontier. At the accurate end, the change was BatchNorm's mode: fine-tuning
# with BatchNorm in inference mode (head first, or `finetune_bn_eval` without
# the head phase) takes about the seconds of the preset's fine-tuning and
# reaches {glue:text}`frontier_bn_eval:.1f` %, the best within the second
# goal's time. How
# close each recipe runs to the machine's limit, in operations per second, is
# measured on the {doc}`benchmarks` page.
#
# ### The fast path, by name
#
# The probe on cached features is a strategy like the others:
# `run(cfg, strategy="probe")` in Python, `python -m tlbook train --strategy
# probe` on the command line, and the frontier's most accuracy per second is that
# strategy with `--backbone efficientnet_lite2 --image-size 160`. Its result is an
# ordinary run, evaluated, loaded by `tlbook predict` and exported like any
# other; it has no epochs, so it takes none of the recipe's settings. The `cpu`
# preset keeps full fine-tuning of Lite0 as the book's recipe, because this
# chapter's lessons (learning rates, schedules, what to unfreeze, BatchNorm) are
# lessons about training the network. Where a lesson is about what pretrained
# features are worth, the book takes the fast path: exercise 1.2 (pretrained or
# from scratch with 10 labels per class), chapter 2's random test transform,
# chapter 5's robustness comparison and its temperature-scaling exercise, and
# chapter 6's own photos.
#
# ## Summary
#
# - `nn.CrossEntropyLoss` is softmax cross-entropy, $-\frac1N\sum_i \log p_{i,y_i}$, with
#   gradient $(p - \mathrm{onehot}(y))/N$; the source's binary formula is the
#   one-vs-rest loss of multi-label problems.
# - Label smoothing trains towards $(1-\varepsilon)\,\mathrm{onehot} + \varepsilon/K$; a
#   new head starts at a loss near $\ln K$.
# - The source's recipe loses most of what transfer offers: 32-pixel inputs, a
#   tiny constant learning rate and far fewer steps than it was written for, and a
#   random, train-mode evaluation. Its `Normalize(0.5)` happens to be right for
#   this book's backbone and wrong for its own ResNet-18. Repaired one change at a
#   time, the same network on the same images gains the points printed above.
# - Strategies are compared over training runs (seeds), one paired difference per
#   seed; a gap inside the noise is reported as noise, with the smallest gap the
#   seeds can resolve.
# - Keeping BatchNorm in inference mode while the backbone fine-tunes, at a low
#   rate, did best here, with or without the Keras guide's head-first phase:
#   {glue:text}`verdict_finetune_bn_eval_finetune`; and
#   {glue:text}`verdict_head_first_finetune_bn_eval`.
# - The source's tiny learning rate, not its optimiser, cost the most: given a
#   rate chosen on validation, SGD comes within a few points of AdamW.
# - Freezing must freeze BatchNorm's running statistics too.
# - Per second of a CPU, computing a frozen backbone's features once and fitting
#   a linear head on them (`strategy="probe"`) beats training the network for
#   epochs at the fast end, where better features, not more pixels, moved the
#   frontier; for the most accuracy within minutes, fine-tune with BatchNorm in
#   inference mode.
#
# References are listed in {doc}`references`.

# %% [markdown]
# ## Exercises
#
# Each exercise ends with `check("4.N", ...)`, which says whether your answer
# passes and, if not, what is wrong. The solutions are folded under each cell;
# try first. Students get the same exercises with empty stubs in
# `exercises/04_finetuning.ipynb` (see {doc}`instructors`).

# %% tags=["exercise-setup"]
import torch
import torch.nn.functional as F
from torch import nn

from tlbook.exercises import check

# %% [markdown]
# ### Exercise 4.1: the gradient of the label-smoothed loss (derive and code)
#
# With label smoothing $\varepsilon$ the target is
# $t = (1-\varepsilon)\,\mathrm{onehot}(y) + \varepsilon/K$. Derive the gradient
# of the batch-mean loss $-\frac1N\sum_i\sum_k t_{ik}\log p_{ik}$ with respect to
# the logits and write it without autograd. The check compares it with autograd
# for $\varepsilon = 0$ and $0.1$.


# %% tags=["exercise", "nbval-check-output"]
def smoothed_ce_grad(z: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """d loss / d z for logits z (N, K), labels y (N,) and smoothing eps."""
    # BEGIN SOLUTION
    n, k = z.shape
    target = (1 - eps) * F.one_hot(y, k) + eps / k  # (N, K)
    return (z.softmax(dim=1) - target) / n
    # END SOLUTION


check("4.1", smoothed_ce_grad)

# %% [markdown]
# ### Exercise 4.2: binary or categorical? (derive and code)
#
# For logits $z$ (one per class) and true class $y$, compute the categorical
# cross-entropy $-\log \mathrm{softmax}(z)_y$ and the source's binary formula
# summed over the classes (one sigmoid per class, target one-hot), without
# `torch.nn.functional`'s losses. For $z = (3, 3, -2)$ and $y = 0$: which is
# larger? Which of the binary sum's three terms carries most of it, and why
# does the categorical loss charge the tie between the two 3s only about
# $\ln 2$?


# %% tags=["exercise", "nbval-check-output"]
def two_losses(z: torch.Tensor, y: int) -> dict[str, float]:
    """Categorical and summed binary cross-entropy of logits z (K,) for class y."""
    # BEGIN SOLUTION
    target = F.one_hot(torch.tensor(y), len(z)).float()  # (K,) one-hot
    return {
        "categorical": float(-z.log_softmax(dim=0)[y]),
        "binary": float(
            -(target * F.logsigmoid(z) + (1 - target) * F.logsigmoid(-z)).sum()
        ),
    }
    # END SOLUTION


check("4.2", two_losses)

# %% [markdown]
# ### Exercise 4.3: the BatchNorm trap, repaired by hand (derive and code)
#
# Write `train_mode(model)`: put the model in training mode, then every
# BatchNorm layer whose parameters are all frozen (`requires_grad=False`) back
# into eval mode, so its running statistics stay those of ImageNet. (This is
# what `tlbook.train.fit` does after every `model.train()`.) Before you run the
# check, predict: which layers does the check's small model leave in training
# mode?


# %% tags=["exercise", "nbval-check-output"]
def train_mode(model: nn.Module) -> nn.Module:
    """model.train(), except frozen BatchNorm layers, which stay in eval mode."""
    # BEGIN SOLUTION
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(
            p.requires_grad for p in m.parameters()
        ):
            m.eval()
    return model
    # END SOLUTION


check("4.3", train_mode)
