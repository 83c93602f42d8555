# %% [markdown]
# # Outlook and FAQ: the source's open questions, answered with evidence
#
# :::{admonition} In this chapter
# :class: tip
# **You will learn** what the book's measurements say about the source's four
# future directions and where the field has gone since; corrected answers to the
# source's FAQ; and how to go from **a folder of your own photos** to a model
# that predicts on a new photo and runs without `tlbook`.
#
# **Runtime**: <!-- runtime --><!-- /runtime -->: a probe, two small training runs
# on folders of images and an ONNX export.
# On a GPU the training takes seconds, and installing the package and loading
# the data and weights take most of the time (not timed: this project has had
# no GPU to measure on).
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
from tlbook.studies import curve_means, load_or_run, scratch_budget, strategy_summary

cfg = get_config()
print(cfg.describe())
strategy_rows = load_or_run("strategies", cfg)
strategies = strategy_summary(strategy_rows)
curve = load_or_run("curve", cfg)
budget = scratch_budget(
    load_or_run("scratch", cfg)
)  # the baseline given the compute it needs
glue("outlook_budget_scale", budget["scale"])
glue("outlook_budget_acc", round(100 * budget["test_accuracy"], 1))
glue("outlook_budget_per_class", cfg.train_per_class)
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
    f" {strategies['scratch']['mean']:.1%} (strategies study, mean over seeds);"
    f" from scratch with {budget['scale']}x the epochs (chosen on validation)"
    f" {budget['test_accuracy']:.1%}"
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

# %% tags=["hide-input"] figure={"caption": "The price of each strategy: test accuracy (mean and standard deviation over seeds) against the number of parameters it trains, on a logarithmic axis; from the strategies study of chapter 4.", "name": "fig-outlook-cost", "alt": "A scatter plot with a label beside each point: the linear probe, and the BatchNorm trap far below it, at about ten thousand trained parameters on the left; full, layer-wise, discriminative and both head-first variants at about three million and partial fine-tuning at slightly fewer, clustered at the top right, with the two strategies that keep BatchNorm in inference mode, full fine-tuning (finetune_bn_eval) and head first, highest of all, near 80 %; from scratch at the same three million, lowest of all, and its run four times longer between it and the cluster."}
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
# labels fine-tuning needs to match the network from scratch with
# {glue:text}`outlook_budget_per_class` per class, given the compute it needs
# ({glue:text}`outlook_budget_scale` times the epochs, the schedule chosen on
# validation in chapter 4's scratch study). The axis counts training images;
# every run also uses {glue:text}`outlook_val` labelled validation images per
# class to choose its epoch.

# %% tags=["hide-input"] figure={"caption": "Fewer labels: the data-efficiency curve of chapter 5 with a horizontal line at the accuracy the network from scratch reached with the most labels and the schedule chosen on validation; where the fine-tuned curve crosses the line is the number of labels per class it needs for the same accuracy.", "name": "fig-outlook-labels", "alt": "Rising accuracy curves on a log scale of images per class, with a dotted horizontal line at the accuracy of the network from scratch with 100 images per class and the schedule chosen on validation; the fine-tuned curve crosses that line between 10 and 25 images per class, and both from-scratch curves, the one at the same budget and the one with four times the epochs, stay below it."}
from tlbook.plots import plot_data_curve

largest = max(r["per_class"] for r in curve)
glue("outlook_val", cfg.val_per_class)
plot_data_curve(
    curve,
    val_per_class=cfg.val_per_class,
    reference=(
        budget["test_accuracy"],
        f"from scratch, {cfg.train_per_class} per class, {budget['scale']}x the epochs",
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
# {glue:text}`outlook_scratch:.1f` % for the network from scratch with the same
# budget, at 100 images per class in the `cpu` preset ({doc}`04_finetuning`,
# mean over seeds), and the network from scratch given
# {glue:text}`outlook_budget_scale` times the epochs still reaches only
# {glue:text}`outlook_budget_acc:.1f` %. It is not a free lunch: with the wrong
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


# %% [markdown]
# ## Your own images, end to end
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
# This section goes the whole way with such a folder: add photos, train in
# seconds, predict on a new photo, and take the model away as a file that runs
# without `tlbook`.
#
# **Adding photos.** In Jupyter, `add_photos(folder)` shows a control: type a
# class name, choose photos, press *Add*, and repeat for the next class. In
# Colab, call `add_photos(folder, "cat")` once per class instead: it opens
# Colab's own file chooser, because the Jupyter control silently receives
# nothing there for files of 1 MB or more, which is most phone photos. Every
# photo passes through the one decoder the library uses everywhere: it is
# turned upright as the camera's orientation tag says (a phone stores many
# photos lying on their side), converted to RGB from any mode (greyscale,
# RGBA, palette, CMYK, 16-bit), and saved as a JPEG in the class's folder; a
# file that is not an image is named and nothing is added. At load, images are
# resized once so that their shorter side is 256 pixels, then
# **centre-cropped** to a square, the usual convention: a wide photo loses its
# left and right edges rather than being stretched. Files that systems leave in
# folders (`.DS_Store`, `Thumbs.db`, `._*`) are skipped.
#
# This page has no camera, so it uses a **stand-in**: `stand_in_photos` writes
# 24 random square crops of each of three photographs that scikit-image ships
# (a cat, a cup of coffee, a rocket). Crops of one photograph share its
# colours and its object, so a test crop resembles the training crops far more
# than your photos of a class will resemble each other: the accuracies below
# show that the pipeline works, not how hard your task is.

# %%
import tempfile
from pathlib import Path

import torch

from tlbook import get_config
from tlbook.data import load_splits, stand_in_photos
from tlbook.uploads import add_photos

cfg = get_config()
print(cfg.describe())
folder = stand_in_photos(Path(tempfile.mkdtemp()) / "my_photos", per_class=24)
print(
    ", ".join(
        f"{d.name}: {len(list(d.iterdir()))} photos" for d in sorted(folder.iterdir())
    )
)
add_photos(folder)  # your photos: a class name, the files, then "Add"

# %% [markdown]
# In the static book the control above does nothing (its Python callback needs a
# running kernel); {numref}`fig-own-photos-static` shows what the folder holds,
# as the control's count line reports it in a notebook.

# %% tags=["hide-input"] figure={"caption": "The stand-in for your photos: the first four of the 24 photos in each class folder of my_photos/.", "name": "fig-own-photos-static", "alt": "Three rows of four photos, each titled with its file name: crops of the cat's face (cat/000.jpg to cat/003.jpg), of an espresso cup on its saucer (coffee/), and of a rocket between launch towers at dusk (rocket/)."}
from tlbook.data import image_files, load_image_folder
from tlbook.plots import show_images

photos = load_image_folder(folder).images  # (72, 3, 96, 96), class after class
shown = [photos[24 * c + i] for c in range(3) for i in range(4)]
show_images(
    shown,
    ncols=4,
    size=1.6,
    titles=[
        f"{d.name}/{f.name}"
        for d in sorted(folder.iterdir())
        for f in image_files(d)[:4]
    ],
)

# %% [markdown]
# A single folder of class folders has no separate test split, so
# `load_splits` draws one per class: first the test images, then the validation
# images, then the training images, all disjoint and chosen by the seed.

# %%
mine = load_splits(
    data=folder, train_per_class=14, val_per_class=4, test_per_class=6, seed=cfg.seed
)
for name, split in zip(("train", "validation", "test"), mine):
    print(f"{name:<11} {len(split):>4} images, classes {split.classes}")

# %% [markdown]
# **Training in seconds.** With the backbone frozen, and its BatchNorm layers in
# eval mode, the head's input for an image never changes: the backbone can run
# once per image, and the head, a softmax regression, can train on that table
# of features. `train_probe` does this: one forward pass over the training and
# validation images, then a head per L2 strength, each fitted in full batches
# with L-BFGS, and the strength with the best validation accuracy kept (among
# equals, the strongest: the simplest head). A linear
# probe trained the usual way (chapter 4) runs the backbone over every image in
# every epoch, and augments them; here the images are not augmented, since an
# augmented view would be a new input and the table useless. The command line's
# `tlbook probe` also keeps the table on disk, so a second run on the same photos
# skips the backbone.

# %%
from tlbook.plots import glue
from tlbook.probe import train_probe

probe = train_probe(cfg, data=mine)
n_seen = len(mine[0]) + len(mine[1])
print(f"features of {n_seen} images: {probe.seconds['features']:.1f} s")
heads = len(probe.val_accuracy)
print(f"{heads} heads, one per L2 strength: {probe.seconds['head']:.1f} s")
print(
    "validation accuracy:",
    ", ".join(f"{wd:g}: {acc:.0%}" for wd, acc in probe.val_accuracy.items()),
    f"-> L2 strength {probe.weight_decay:g}",
)
print(f"test accuracy {probe.test.accuracy:.0%} on {len(mine[2])} images")
glue("own_probe_features_s", round(probe.seconds["features"], 1))
glue("own_probe_head_s", round(probe.seconds["head"], 1))
_ = glue("own_probe_accuracy", round(100 * probe.test.accuracy))

# %% [markdown]
# The features took {glue:text}`own_probe_features_s` s and all the heads
# {glue:text}`own_probe_head_s` s together. With a few minutes to spare, the
# book's recipe fine-tunes every layer on the same images; `run` takes the data
# directly:

# %%
from tlbook.experiment import run

result = run(cfg, strategy="finetune", data=mine)
print(
    f"fine-tuned: test accuracy {result.test.accuracy:.0%} on {len(mine[2])} images "
    f"(chance {1 / len(mine[2].classes):.0%}), {result.seconds:.0f} s"
)
glue("own_test_images", len(mine[2]))
glue("own_one_image", round(100 / len(mine[2]), 1))  # points of accuracy per image
_ = glue("own_finetune_s", round(result.seconds))

# %% tags=["hide-input"] figure={"caption": "Predictions of the fine-tuned model on the stand-in's held-out test crops: predicted class and probability (true class in brackets when wrong).", "name": "fig-own-images", "alt": "Eighteen test crops in three rows: six of the cat's face, all predicted cat (probabilities 0.71 to 0.95); six of the coffee cup and saucer, five predicted coffee (0.53 to 0.80) and one, showing only the saucer's rim on the table, predicted rocket (0.42); six of the rocket on its launch pad at dusk, all predicted rocket (0.60 to 0.83)."}
from tlbook.plots import show_images

test = mine[2]
confidence, predicted = result.test.probs.max(dim=1)
show_images(
    test.images,
    ncols=6,
    size=1.8,
    titles=[
        f"{test.classes[predicted[i]]} {confidence[i]:.2f}"
        + (
            ""
            if predicted[i] == test.labels[i]
            else f"\n[{test.classes[test.labels[i]]}]"
        )
        for i in range(len(test))
    ],
)

# %% [markdown]
# Which of the two is better, these {glue:text}`own_test_images` test crops
# cannot say: one image moves the accuracy by {glue:text}`own_one_image`
# points (chapter 5 measures such noise). With your own photos, compare them on validation images,
# as `train_probe` chose its L2 strength.
#
# **Predicting on a new photo.** A run folder holds the model (`model.pt`, with
# its class names and the preprocessing it was trained with) and its numbers
# (`metrics.json`); `save_run` writes one, as `tlbook train` and `tlbook probe`
# do. `tlbook.predict` reads it, decodes each photo with the same decoder,
# applies the run's own preprocessing and returns the most probable classes.
# The new photo here is another crop of the cat photograph, saved the way a
# phone saves a photo taken in portrait: the pixels lie on their side and a tag
# says "turn 90° to show".

# %%
import numpy as np
from PIL import Image
from skimage import data as samples

import tlbook
from tlbook.checkpoints import save_run
from tlbook.images import decode_image
from tlbook.plots import plot_prediction

run_folder = save_run(
    Path(tempfile.mkdtemp()) / "my-run",
    probe.model,
    backbone=cfg.backbone,
    classes=probe.test.classes,
    metrics=probe.metrics(),
)
upright = Image.fromarray(samples.chelsea()[30:290, 80:340])  # (260, 260) pixels
exif = Image.Exif()
exif[0x0112] = 6  # EXIF orientation 6: "turn 90° clockwise to show"
new_photo = Path(tempfile.mkdtemp()) / "new_photo.jpg"
upright.transpose(Image.Transpose.ROTATE_90).save(new_photo, quality=90, exif=exif)
[prediction] = tlbook.predict(new_photo, run_folder)
print(
    ", ".join(
        f"{c} {p:.1%}" for c, p in zip(prediction.classes, prediction.probabilities)
    )
)

# %% tags=["hide-input"] figure={"caption": "A new photo as a phone stores it (left: the pixels lie on their side; a tag says how to turn them), as tlbook decodes it (middle: upright), and the probe's probability for each class (right).", "name": "fig-own-predict", "alt": "Left, a close crop of the cat's face lying on its side, as its pixels are stored; middle, the same crop upright; right, horizontal bars of probability: cat 98.0 %, rocket 1.0 %, coffee 0.9 %."}
stored = torch.from_numpy(np.array(Image.open(new_photo))).permute(2, 0, 1)
shown = torch.from_numpy(decode_image(new_photo, storage_size=None)).permute(2, 0, 1)
plot_prediction(
    [stored, shown],
    prediction.classes,
    prediction.probabilities,
    titles=["pixels as stored", "as tlbook decodes it"],
)

# %% [markdown]
# **Taking the model away.** `export_onnx` writes the run as an
# [ONNX](https://onnx.ai) file, which runs without `tlbook` and without PyTorch
# (in ONNX Runtime, in a browser, on a phone), and `model.json` beside it with
# the class names and the input size. The normalisation is inside the model,
# so it takes plain RGB pixels. Before anything is kept, ONNX Runtime runs the
# file on check images, here the test crops, and must agree with the PyTorch
# model: the same top class for every image, logits within 0.001. The export
# needs the optional packages `onnx`, `onnxscript` and `onnxruntime`
# (`pip install "tlbook[export]"`, which the README's commands and this
# notebook's Colab setup install).

# %%
from tlbook.export import export_onnx

exported = Path(tempfile.mkdtemp()) / "my-model"
info = export_onnx(run_folder, exported, check_images=mine[2].images)
check = info["check"]
files = sorted(p.name for p in exported.iterdir())
print(
    f"{files}: ONNX Runtime and PyTorch agree on {check['images']} test crops "
    f"(same top class: {check['same_top1']}; "
    f"largest logit difference {check['largest_logit_difference']:.1e})"
)

# %% [markdown]
# These lines are all another program needs, with `numpy`, `pillow` and
# `onnxruntime` installed; no `tlbook`:

# %%
import json

import numpy as np
import onnxruntime
from PIL import Image, ImageOps

info = json.loads((exported / "model.json").read_text())
size = info["preprocessing"]["size"]
image = ImageOps.exif_transpose(Image.open(new_photo)).convert("RGB")  # upright, RGB
image = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)  # centre square
x = np.asarray(image).transpose(2, 0, 1)[None]  # (1, 3, size, size) uint8
session = onnxruntime.InferenceSession(str(exported / "model.onnx"))
logits = session.run(None, {"image": x})[0][0]
p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
print(info["classes"][p.argmax()], f"{p.max():.1%}")

# %% [markdown]
# The class is the same as `tlbook.predict`'s; the probability can differ a
# little, because Pillow's one-step resize is not the library's (shorter side to
# 256 px at load, then to the input size).
#
# The same works from the command line, which keeps the features on disk and
# writes the run folder; `predict` prints the top classes (`--json` for
# programs) and `export` writes the ONNX folder:
#
# ```bash
# python -m tlbook probe --data my_photos --per-class 14 --val-per-class 4 \
#     --test-per-class 6 --out runs/my-photos
# python -m tlbook predict new_photo.jpg --run runs/my-photos
# python -m tlbook export --run runs/my-photos --out my-model --check-with my_photos
# ```
#
# For example, on the run saved above:

# %%
import subprocess
import sys

command = [
    sys.executable,
    "-m",
    "tlbook",
    "predict",
    new_photo.name,
    "--run",
    str(run_folder),
]
# Run beside the photo, so the output names it as you would type it: new_photo.jpg
done = subprocess.run(
    command, capture_output=True, text=True, check=True, cwd=new_photo.parent
)
print(done.stdout)

# %% [markdown]
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
# - A folder of class folders is all the library needs for your own photos: a
#   probe on cached features trains in seconds, `tlbook.predict` classifies a new
#   photo with the run's own preprocessing, and `export_onnx` takes the model away
#   as an ONNX file, checked against PyTorch before it is written.
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
