# %% [markdown]
# # Outlook and FAQ: the source's open questions, answered with evidence
#
# :::{admonition} In this chapter
# :class: tip
# **You will learn** what the book's measurements say about the source's four
# future directions and where the field has gone since; corrected answers to the
# source's FAQ; and how to fine-tune on **a folder of your own images**, worked
# through end to end.
#
# **Runtime**: about 1 minute on a 2-core CPU (`cpu` preset): two small training
# runs on folders of images; on a Colab T4 GPU an estimated 2 minutes, most of
# it installing the package and loading the data and weights (an estimate from
# the GPU's speed on this network, not yet timed).
#
# **Presets**: the outputs shown come from the `cpu` preset, and every runtime
# runs that preset unless you ask for another, Colab's GPU runtime too (where it
# is much faster). For all of CIFAR-10 at 224 px run `%env TLBOOK_PRESET=full`
# before the first `get_config()` (hours even on a GPU; see {doc}`scaling`), or
# `smoke` for a seconds-long plumbing check.
# :::
#
# The numbers this chapter quotes come from the studies of chapters 4 and 5,
# loaded here:

# %% tags=["hide-input"]
from tlbook import get_config
from tlbook.plots import glue
from tlbook.studies import curve_means, load_or_run, strategy_summary

cfg = get_config()
print(cfg.describe())
strategy_rows = load_or_run("strategies", cfg)
strategies = strategy_summary(strategy_rows)
curve = load_or_run("curve", cfg)
glue("outlook_finetune", round(100 * strategies["finetune"]["mean"], 1))
glue("outlook_scratch", round(100 * strategies["scratch"]["mean"], 1))
glue(
    "outlook_probe_gap",
    round(100 * (strategies["finetune"]["mean"] - strategies["linear"]["mean"]), 1),
)
smallest = min(r["per_class"] for r in curve)
glue("outlook_curve_smallest", smallest)
glue("outlook_curve_finetune", round(100 * curve_means(curve, "finetune")[smallest], 1))
glue("outlook_curve_scratch", round(100 * curve_means(curve, "scratch")[smallest], 1))
print(
    f"fine-tuned {strategies['finetune']['mean']:.1%}, linear probe"
    f" {strategies['linear']['mean']:.1%}, from scratch"
    f" {strategies['scratch']['mean']:.1%} (strategies study, mean over seeds)"
)

# %% [markdown]
# ## The four future directions, measured
#
# The source closes with four directions for transfer learning. Each is a
# research field today; here is what this book measured that bears on it, and a
# pointer to where the field went.
#
# **1. More efficient transfer.** The strategies table of
# {doc}`04_finetuning` puts a price on each choice: a linear probe trains only
# the new head (12,810 parameters for EfficientNet-Lite0) and is the cheapest
# per step, while full fine-tuning trains all 3.4 million and, on 100 images per
# class, is {glue:text}`outlook_probe_gap:.1f` points better (mean over seeds). The field has looked for the middle ground:
# *parameter-efficient fine-tuning* trains small added modules such as adapters
# {cite}`houlsby2019parameter` or low-rank updates (LoRA) {cite}`hu2022lora`
# and keeps the backbone frozen, so one backbone serves many tasks.
# {numref}`fig-outlook-cost` shows the price list: the gap that
# parameter-efficient methods try to close is the vertical distance between the
# linear probe and the strategies that train every layer.

# %% tags=["hide-input"] figure={"caption": "The price of each strategy: test accuracy (mean and standard deviation over seeds) against the number of parameters it trains, on a logarithmic axis; from the strategies study of chapter 4.", "name": "fig-outlook-cost", "alt": "A scatter plot with a label beside each point: the linear probe, and the BatchNorm trap far below it, at about ten thousand trained parameters on the left; full, layer-wise, head-first and discriminative fine-tuning at about three million and partial fine-tuning at slightly fewer, clustered at the top right; from scratch at the same three million, lowest of all, and its run four times longer between it and the cluster."}
from tlbook.plots import plot_accuracy_cost

trained = {r["strategy"]: r["trainable_parameters"] for r in strategy_rows}
plot_accuracy_cost(
    {name: (trained[name], s["mean"], s["std"]) for name, s in strategies.items()},
    xlabel="trainable parameters (log scale)",
)

# %% [markdown]
# **2. Fewer labels.** The data-efficiency curve of {doc}`05_evaluation` is the
# source's central claim measured: with {glue:text}`outlook_curve_smallest`
# labelled images per class the fine-tuned network reaches
# {glue:text}`outlook_curve_finetune:.1f` % (chance: 10 %), the same network from
# scratch {glue:text}`outlook_curve_scratch:.1f` %. Since then, *self-supervised* pretraining
# learns the backbone from unlabelled images {cite}`chen2020simple`, and
# image-text models such as CLIP classify new categories with *no* labelled
# example at all (zero-shot) {cite}`radford2021learning`.
# {numref}`fig-outlook-labels` reads the curve the other way round: how many
# labels fine-tuning needs to match the best the network from scratch reached
# with {glue:text}`outlook_curve_largest` per class.

# %% tags=["hide-input"] figure={"caption": "Fewer labels: the data-efficiency curve of chapter 5 with a horizontal line at the accuracy the network from scratch reached with the most labels; where the fine-tuned curve crosses the line is the number of labels per class it needs for the same accuracy.", "name": "fig-outlook-labels", "alt": "Rising accuracy curves on a log scale of images per class, with a dotted horizontal line at the from-scratch network's best accuracy; the fine-tuned curve is above that line from the smallest number of images per class on, while the from-scratch curve reaches it only at its last point."}
from tlbook.plots import plot_data_curve

largest = max(r["per_class"] for r in curve)
glue("outlook_curve_largest", largest)
plot_data_curve(
    curve,
    reference=(
        curve_means(curve, "scratch")[largest],
        f"from scratch, {largest} per class",
    ),
)

# %% [markdown]
# **3. Better generalisation.** Accuracy on the test split is not accuracy in
# the world: {doc}`05_evaluation` shows the fine-tuned model losing accuracy
# under noise, blur, compression and exposure changes, and shows that its
# confidence must be measured before it is trusted or "repaired" (temperature
# scaling, {cite}`guo2017calibration`). Better
# ImageNet models tend to transfer better {cite}`kornblith2019better`, and
# benchmarks of corruptions {cite}`hendrycks2019benchmarking` made robustness
# something one measures instead of assumes.
#
# **4. Other tasks.** The backbone of {doc}`03_backbone` is a general image
# feature extractor: detection and segmentation networks put task-specific heads
# on the same pretrained backbones {cite}`he2017mask`, and vision transformers
# {cite}`dosovitskiy2021image` have become backbones in their own right. What
# this book teaches (matching preprocessing, replacing the head, freezing with
# care, honest evaluation) carries over unchanged.
#
# ## FAQ, corrected
#
# The source ends with four questions and short answers. They are paraphrased
# below (only the speech-recognition claim is quoted), each with what the
# evidence in this book says where the original is vague or wrong.
#
# **What is transfer learning?** Reusing a network trained on one task (here,
# ImageNet classification) as the starting point for another (CIFAR-10). Precisely:
# keep the backbone, replace the head, then train the head alone (linear probe)
# or everything gently (fine-tuning). See {doc}`01_concepts`.
#
# **Why use a pretrained model instead of training from scratch?** Because with
# few labels the pretrained features are far better than anything the labels
# alone can teach: {glue:text}`outlook_finetune:.1f` % against
# {glue:text}`outlook_scratch:.1f` % at 100 images per class in the `cpu` preset
# ({doc}`04_finetuning`, mean over seeds). It is not a free lunch: with the wrong
# preprocessing or a bad recipe, as in the source's own code sample, most of the
# advantage is lost.
#
# **How much data do I need?** The source answers only qualitatively; the
# honest answer is a curve, not a number. Read it off
# {numref}`fig-data-curve` in {doc}`05_evaluation`: a few labelled images per
# class already give a useful classifier, and each added label still helps at
# 100 per class. Whether that is enough depends on the accuracy you need, which
# is why the curve has error bars.
#
# **Where can transfer learning be applied?** Among its answers, the source says
# that "transfer learning can be applied to speech recognition". The *idea*
# applies to speech and text (pretrained speech and language models are
# fine-tuned the same way), and ImageNet backbones themselves reach into audio:
# a sound turned into a spectrogram is an image, and ImageNet-initialised
# networks fine-tuned on spectrograms are a common, strong starting point for
# audio classification, although spectrograms look nothing like photographs
# (chapter 1's table lists them among the "different" domains). In vision, the
# same backbones serve classification, detection, segmentation and retrieval.
#
# ## Bring your own images
#
# Everything in this book works on a folder of your own photographs, one
# subfolder per class:
#
# ```text
# my_photos/
#   cat/    img001.jpg  img002.jpg  ...
#   dog/    ...
#   horse/  ...
# ```
#
# Images of any size and mode (greyscale, RGBA, palette, CMYK, 16-bit) are
# converted to RGB and resized once, at load, so that their shorter side is 256
# pixels, then **centre-cropped** to a square, the usual convention: a wide photo
# loses its left and right edges rather than being stretched. Memory stays
# bounded, and the error message says what to do if it still does not fit.
# Files that systems leave in folders (`.DS_Store`, `Thumbs.db`, `._*`) are
# skipped.
# Here the folder is made from three CIFAR-10 classes so that the example runs
# anywhere; replace `folder` by the path to your own photos.

# %%
import tempfile
from pathlib import Path

import torch

from tlbook import get_config
from tlbook.data import export_image_folder, load_splits
from tlbook.experiment import load_data, run
from tlbook.plots import show_images

cfg = get_config()
print(cfg.describe())
cifar_train = load_data(cfg)[0]
keep = torch.nonzero(
    torch.isin(cifar_train.labels, torch.tensor([3, 5, 7]))
).flatten()  # cat, dog, horse
folder = export_image_folder(
    cifar_train.subset(keep), Path(tempfile.mkdtemp()) / "my_photos"
)
print(
    f"{folder.name}/: "
    + ", ".join(
        f"{d.name} ({len(list(d.iterdir()))} images)" for d in sorted(folder.iterdir())
    )
)

# %% [markdown]
# A single folder of class folders has no separate test split, so
# `load_splits` draws one per class: first the test images, then the validation
# images, then the training images, all disjoint and chosen by the seed.

# %%
n = min(
    len(list(d.iterdir())) for d in folder.iterdir()
)  # images in the smallest class
test_k, val_k = max(1, n // 5), max(1, n // 10)
mine = load_splits(
    data=folder,
    train_per_class=n - test_k - val_k,
    val_per_class=val_k,
    test_per_class=test_k,
    seed=cfg.seed,
)
for name, split in zip(("train", "validation", "test"), mine):
    print(f"{name:<11} {len(split):>4} images, classes {split.classes}")

# %% [markdown]
# Then the book's recipe, unchanged: `run` takes the data directly.

# %%
result = run(cfg, strategy="finetune", data=mine)
print(
    f"test accuracy on {len(mine[2])} held-out images: {result.test.accuracy:.1%} "
    f"(chance {1 / len(mine[2].classes):.0%}), {result.seconds:.0f} s"
)

# %% tags=["hide-input"] figure={"caption": "Predictions of the model fine-tuned on the three-class folder, on its held-out test images: predicted class and probability (true class in brackets when wrong).", "name": "fig-own-images", "alt": "Twelve small images of cats, dogs and horses, each titled with the predicted class and its probability."}
test = mine[2]
confidence, predicted = result.test.probs.max(dim=1)
shown = torch.arange(min(12, len(test)))
show_images(
    test.images[shown],
    ncols=6,
    size=1.8,
    titles=[
        f"{test.classes[predicted[i]]} {confidence[i]:.2f}"
        + (
            ""
            if predicted[i] == test.labels[i]
            else f"\n[{test.classes[test.labels[i]]}]"
        )
        for i in shown
    ],
)

# %% [markdown]
# The same works from the command line, which also writes a checkpoint:
#
# ```bash
# python -m tlbook train --data my_photos --per-class 40 --out runs/my-photos
# python -m tlbook evaluate --run runs/my-photos
# ```
#
# With your own photos, check three things first: that every class folder holds
# images of that class only (a few mislabelled images cost more than a few
# missing ones), that the test images are not near-duplicates of training images
# (burst photos), and that the classes are balanced or the evaluation reports
# per-class recall ({doc}`05_evaluation`).
#
# ## Summary
#
# - Each of the source's future directions is now a field: parameter-efficient
#   fine-tuning, self-supervised and zero-shot learning, robustness and
#   calibration, and backbones shared across vision tasks.
# - "How much data?" is answered by a curve with error bars, not by a number.
# - Transfer learning as an idea reaches beyond vision, and ImageNet backbones do
#   too: fine-tuned on spectrograms they are a standard start for audio
#   classification.
# - A folder of class folders is all the library needs to fine-tune on your own
#   images.
#
# References are listed in {doc}`references`.

# %% [markdown]
# ## Exercises
#
# Each exercise ends with `check("6.N", ...)`, which says whether your answer
# passes and, if not, what is wrong. The solutions are folded under each cell;
# try first. Students get the same exercises with empty stubs in
# `exercises/06_outlook.ipynb` (see {doc}`instructors`).

# %% tags=["exercise-setup"]
import tempfile
from pathlib import Path

import torch

from tlbook import get_config
from tlbook.data import load_splits, stand_in_photos
from tlbook.exercises import check
from tlbook.experiment import load_data, run
from tlbook.studies import load_or_run

# %% [markdown]
# ### Exercise 6.1: how much data? (derive and code)
#
# Write `images_needed(rows, strategy, target)`: the smallest number of images
# per class at which the *mean* test accuracy over seeds reaches `target`, or
# `None` if no point does. `rows` are the data-efficiency curve's rows
# (`load_or_run("curve", cfg)`). How many images per class does the network from
# scratch need to match fine-tuning with 5?


# %% tags=["exercise", "nbval-check-output"]
def images_needed(rows: list[dict], strategy: str, target: float) -> int | None:
    """Fewest images per class with a mean accuracy of at least target, or None."""
    # BEGIN SOLUTION
    sizes = {r["per_class"] for r in rows if r["strategy"] == strategy}
    means = {}
    for k in sizes:
        accuracies = [
            r["test_accuracy"]
            for r in rows
            if r["strategy"] == strategy and r["per_class"] == k
        ]
        means[k] = sum(accuracies) / len(accuracies)
    reached = [k for k, m in means.items() if m >= target]
    return min(reached) if reached else None
    # END SOLUTION


check("6.1", images_needed)

# %% [markdown]
# ### Exercise 6.2: the FAQ, true or false (run and interpret)
#
# Mark each statement `True` or `False`, using what the book measured. The check
# explains each one you get wrong.

# %% tags=["exercise", "nbval-check-output"]
statements = (
    "Transfer learning always improves accuracy.",
    "In this book's linear probe, leaving a frozen backbone's BatchNorm in training"
    " mode cost accuracy.",
    "Fine-tuning from ImageNet needs thousands of labels per class.",
    "Transfer learning is a computer-vision technique only.",
)
# BEGIN SOLUTION stub: answer = {statement: ... for statement in statements}
answer = dict(zip(statements, (False, True, False, False)))
# END SOLUTION
check("6.2", answer)

# %% [markdown]
# ### Exercise 6.3: your own images (open-ended)
#
# Fine-tune on a folder of your own: photographs of two to five kinds of
# things, one subfolder per class, at least 20 images each, beside this
# notebook. (The solution, which has no camera, uses crops of scikit-image's
# sample photographs: `tlbook.data.stand_in_photos`.) Load it with
# `load_splits(data=...)`, train with `run(cfg, data=...)`, and hand the check
# both the folder and the result. Then look at the mistakes: are they the
# images you would have found hard?

# %% tags=["exercise"]
# BEGIN SOLUTION stub: answer = {"folder": ..., "result": ...}
cfg = get_config()
my_folder = stand_in_photos(Path(tempfile.mkdtemp()) / "my-photos", per_class=20)
my_data = load_splits(
    data=my_folder, train_per_class=12, val_per_class=4, test_per_class=4
)
my_result = run(cfg.replace(epochs=min(cfg.epochs, 3)), data=my_data)
answer = {"folder": my_folder, "result": my_result}
# END SOLUTION
check("6.3", answer)
