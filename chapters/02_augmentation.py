# %% [markdown]
# # Augmentation math: I_aug = T(I) made precise
#
# :::{admonition} In this chapter
# :class: tip
# **You will learn** to describe an image as a function of pixel coordinates, a
# geometric augmentation as a coordinate map written as a $3\times3$ matrix, why
# implementations use the *inverse* map and interpolation, how random
# augmentations are distributions over matrices, and which augmentations are safe
# for which labels. The matrices here are exactly the ones `tlbook` uses to
# augment whole batches on the model's device.
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
# The source writes augmentation as $I_{aug} = T(I)$: an augmented image is a
# transformation $T$ of the original image $I$. To make this precise, treat an
# image as a function that gives a colour for each point $p = (x, y)$ of the
# plane, $I : \mathbb{R}^2 \to \mathbb{R}^3$, known at the pixel centres. A
# *geometric* augmentation moves points: a map $A$ sends the input point $p$ to
# the output point $A(p)$, and the augmented image is
#
# $$
# I_{aug}(q) = I\left(A^{-1}(q)\right) \quad\text{for every output point } q,
# $$ (eq-inverse-map)
#
# the colour at $q$ is the colour of the input point that $A$ moved there.

# %%
import math

import torch
from skimage import data as skdata
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from tlbook import get_config
from tlbook.augment import (
    SOURCE_AUGMENT,
    DEFAULT_AUGMENT,
    AugmentConfig,
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    affine_matrix,
    apply_to_points,
    hflip,
    rotation,
    sample_matrices,
    scaling,
    shear,
    translation,
    vflip,
    warp,
)
from tlbook.experiment import load_data, run
from tlbook.plots import glue, show_images
from tlbook.widgets import augmentation_explorer, explorer_grid

cfg = get_config()
print(cfg.describe())
train, val, test = load_data(cfg)
cat = test.images[
    (test.labels == test.classes.index("cat")).nonzero()[0, 0]
]  # (3, 32, 32) uint8
photo = torch.from_numpy(skdata.chelsea()).permute(
    2, 0, 1
)  # (3, 300, 451) uint8, ships with scikit-image

# %% [markdown]
# ## Coordinates
#
# `tlbook` writes points in *centred pixel coordinates*: $x$ to the right, $y$
# **down** (the way images are stored), the origin at the image centre and one
# unit per pixel. Every map in this chapter is *affine*, $A(p) = Mp + t$, and
# becomes a single matrix product in *homogeneous coordinates*, where the point
# $(x, y)$ is written $(x, y, 1)$:
#
# $$
# \begin{pmatrix} x' \\ y' \\ 1 \end{pmatrix} =
# \begin{pmatrix} m_{11} & m_{12} & t_x \\ m_{21} & m_{22} & t_y \\ 0 & 0 & 1 \end{pmatrix}
# \begin{pmatrix} x \\ y \\ 1 \end{pmatrix}.
# $$ (eq-homogeneous)
#
# The building blocks, as `tlbook.augment` defines them:
#
# | augmentation | matrix | `tlbook.augment` |
# | --- | --- | --- |
# | translation by $(t_x, t_y)$ | $\begin{pmatrix}1&0&t_x\\0&1&t_y\\0&0&1\end{pmatrix}$ | `translation(tx, ty)` |
# | rotation by $\theta$ (counter-clockwise on screen) | $\begin{pmatrix}\cos\theta&\sin\theta&0\\-\sin\theta&\cos\theta&0\\0&0&1\end{pmatrix}$ | `rotation(deg)` |
# | scaling by $s_x, s_y$ (zoom in if $>1$) | $\begin{pmatrix}s_x&0&0\\0&s_y&0\\0&0&1\end{pmatrix}$ | `scaling(sx, sy)` |
# | horizontal flip | $\begin{pmatrix}-1&0&0\\0&1&0\\0&0&1\end{pmatrix}$ | `hflip()` |
# | shear ($x \mathrel{+}= y\tan\phi$) | $\begin{pmatrix}1&\tan\phi&0\\0&1&0\\0&0&1\end{pmatrix}$ | `shear(deg)` |
#
# Because $y$ points down, a counter-clockwise turn has $+\sin\theta$ in the first
# row, the opposite of the textbook matrix for $y$ pointing up. The point one pixel
# right of the centre goes one pixel *up* under a 90° turn:

# %% tags=["nbval-check-output"]
p = torch.tensor([[1.0, 0.0]])
print(
    "rotation(90) maps (1, 0) to",
    [round(v, 6) + 0.0 for v in apply_to_points(rotation(90.0), p)[0].tolist()],
)
print("hflip maps (1, 0) to", apply_to_points(hflip(), p)[0].tolist())
print(
    "shear(45) maps (0, 1) to",
    [
        round(v, 6)
        for v in apply_to_points(shear(45.0), torch.tensor([[0.0, 1.0]]))[0].tolist()
    ],
)

# %% [markdown]
# A random *crop* followed by a resize back to full size is a scaling (zoom in)
# plus a translation (which part is kept): no separate building block is needed.
#
# ## Why the inverse map, and why interpolation
#
# One could push every input pixel to where $A$ sends it. Output positions are
# then not whole pixels, and some output pixels receive nothing: *holes*. Pulling
# instead, as {eq}`eq-inverse-map` does, asks for each output pixel where it came
# from, so every output pixel gets exactly one value. The price is that $A^{-1}(q)$
# falls *between* input pixels, so the input must be interpolated there.


# %% figure={"caption": "Pushing pixels forward through a rotation and zoom leaves holes; pulling values through the inverse map does not.", "name": "fig-holes", "alt": "Three cats: the input, a rotated version speckled with black holes, and a clean rotated version."}
def forward_splat(image: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Push each input pixel to its rounded output position (the naive way)."""
    c, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pts = torch.stack(
        [xs.flatten() + 0.5 - w / 2, ys.flatten() + 0.5 - h / 2], 1
    ).float()
    q = apply_to_points(a, pts)
    qx, qy = (
        (q[:, 0] + w / 2 - 0.5).round().long(),
        (q[:, 1] + h / 2 - 0.5).round().long(),
    )
    ok = (qx >= 0) & (qx < w) & (qy >= 0) & (qy < h)
    out = torch.zeros_like(image)
    out[:, qy[ok], qx[ok]] = image[:, ys.flatten()[ok], xs.flatten()[ok]]
    return out


big_cat = warp(cat[None].float() / 255, None, size=96)[0]  # (3, 96, 96): easier to see
a = rotation(20.0) @ scaling(1.3)
pushed = forward_splat(big_cat, a)
pulled = warp(big_cat[None], a)[0]
holes = int((pushed.sum(0) == 0).sum() - (pulled.sum(0) == 0).sum())
print(
    f"pushing pixels forward leaves {holes} holes inside the image; pulling (inverse"
    " map) leaves none"
)
show_images(
    torch.stack([big_cat, pushed, pulled]),
    titles=["input", "forward (holes)", "inverse map"],
    ncols=3,
    size=2.4,
)

# %% [markdown]
# **Nearest** interpolation takes the closest input pixel: fast, blocky, and it
# keeps the exact pixel values (useful for label masks). **Bilinear**
# interpolation blends the four nearest pixels by their distance: smooth, what
# `tlbook` uses for images. On a zoomed-in detail of a real photograph:

# %% figure={"caption": "The same rotation and 4x zoom, sampled with nearest and with bilinear interpolation.", "name": "fig-interpolation", "alt": "Two crops of a cat's eye: on the left blocky square pixels (nearest), on the right smooth gradients (bilinear)."}
detail = photo[:, 60:124, 200:264].float()[None] / 255  # (1, 3, 64, 64) around the eye
a = rotation(10.0) @ scaling(4.0)
show_images(
    torch.cat([warp(detail, a, mode="nearest"), warp(detail, a, mode="bilinear")]),
    titles=["nearest", "bilinear"],
    ncols=2,
    size=3.0,
)

# %% [markdown]
# ## Composition is a matrix product, and order matters
#
# Doing $A$ first and then $B$ is the single matrix $BA$ (the right-most matrix
# acts first). Matrix products do not commute, and neither do augmentations:
# rotating and then shifting to the right is not shifting to the right and then
# rotating (the shift gets rotated too).

# %% figure={"caption": "Order matters: the same rotation and shift, composed in the two orders.", "name": "fig-order", "alt": "Three images of a cat: the original, rotated then shifted right, and shifted right then rotated, which ends up shifted up and right."}
turn, shift = rotation(30.0), translation(20.0, 0.0)
show_images(
    torch.stack(
        [
            big_cat,
            warp(big_cat[None], shift @ turn)[0],
            warp(big_cat[None], turn @ shift)[0],
        ]
    ),
    titles=["input", "rotate, then shift", "shift, then rotate"],
    ncols=3,
    size=2.4,
)

# %% tags=["nbval-check-output"]
for name, a in [
    ("rotate-then-shift", shift @ turn),
    ("shift-then-rotate", turn @ shift),
]:
    print(
        f"{name} moves the centre to",
        [round(v, 2) + 0.0 for v in apply_to_points(a, torch.zeros(1, 2))[0].tolist()],
    )
inverse = torch.linalg.inv(shift @ turn)
print(
    "inverse of (shift @ turn) == turn^-1 @ shift^-1:",
    torch.allclose(
        inverse, torch.linalg.inv(turn) @ torch.linalg.inv(shift), atol=1e-6
    ),
)

# %% [markdown]
# The inverse of a composition reverses the order: $(BA)^{-1} = A^{-1}B^{-1}$.
# `tlbook.augment.warp` hands PyTorch's `affine_grid` / `grid_sample` the
# inverse map, which they evaluate ({eq}`eq-inverse-map`) with bilinear
# interpolation for a whole batch at once. Those functions use coordinates in
# $[-1, 1]$, so the forward matrix is first converted, $N A N^{-1}$ with
# $N = \mathrm{diag}(2/W, 2/H, 1)$, and then inverted once:
# $(N A N^{-1})^{-1} = N A^{-1} N^{-1}$ is what `affine_grid` receives.
#
# ## The same numbers as torchvision
#
# The matrices are not a private convention: warping with them gives the same
# images as `torchvision.transforms.v2.functional`, up to float rounding. (One
# caution when reading torchvision's documentation: its `affine` turns
# *clockwise* for a positive angle and shears with the opposite sign, while
# `rotate` and `RandomRotation` turn counter-clockwise like `tlbook`.)

# %% tags=["nbval-check-output"]
img = TF.resize(
    photo.float()[None] / 255, [96, 144], antialias=True
)  # (1, 3, 96, 144), deterministic
bilinear = InterpolationMode.BILINEAR
checks = {
    "rotation(15) vs rotate(15)": (
        warp(img, rotation(15.0)),
        TF.rotate(img, 15.0, interpolation=bilinear),
    ),
    "flip vs horizontal_flip": (warp(img, hflip()), TF.horizontal_flip(img)),
    "shift+turn+zoom vs affine": (
        warp(img, translation(5.0, -3.0) @ rotation(-12.0) @ scaling(1.2)),
        TF.affine(
            img,
            angle=12.0,
            translate=[5, -3],
            scale=1.2,
            shear=[0.0, 0.0],
            interpolation=bilinear,
        ),
    ),
}
for name, (ours, theirs) in checks.items():
    diff = (ours - theirs).abs().mean().item()
    print(f"{name:>28}: mean |difference| < 1e-4 of the grey range: {diff < 1e-4}")

# %% [markdown]
# On a CIFAR-10 image the numbers agree just as well:

# %%
c = cat[None].float() / 255
gap = warp(c, rotation(10.0)) - TF.rotate(c, 10.0, interpolation=bilinear)
print(f"mean |difference| on a CIFAR-10 cat: {gap.abs().mean():.2e}")

# %% [markdown]
# ## Random augmentation is a distribution over matrices
#
# The source augments with `RandomHorizontalFlip()` and `RandomRotation(10)`.
# Written with matrices, each training image gets
#
# $$
# A = R(\theta)\,F^{b}, \qquad \theta \sim \mathcal{U}(-10^\circ, 10^\circ),\quad b \sim \mathrm{Bernoulli}(1/2),
# $$ (eq-source-aug)
#
# where $F$ is the flip. torchvision's `RandomResizedCrop(scale=(0.08, 1))`, the
# standard ImageNet augmentation, draws a crop covering 8 % to 100 % of the area
# with a random aspect ratio and position and resizes it back: a random
# anisotropic scaling $S(s_x, s_y)$ with $s_x s_y \in [1, 12.5]$ plus a random
# translation. `tlbook` describes such a distribution with a small dataclass and
# draws a whole batch of matrices at once:

# %% figure={"caption": "Sixteen random draws of the book's default augmentation applied to one CIFAR-10 image.", "name": "fig-random-draws", "alt": "A grid of sixteen versions of the same cat, some mirrored, zoomed in and shifted."}
print(SOURCE_AUGMENT)
print(DEFAULT_AUGMENT)
g = torch.Generator().manual_seed(0)
m = sample_matrices(16, DEFAULT_AUGMENT, height=32, width=32, generator=g)  # (16, 3, 3)
print("one sampled matrix:\n", m[0].numpy().round(3))
show_images(
    warp(
        cat[None].float().expand(16, -1, -1, -1) / 255,
        m,
        size=64,
        padding_mode="reflection",
    ),
    ncols=8,
    size=1.2,
)

# %% [markdown]
# The book's default is a horizontal flip plus a random "crop" (zoom in up to
# 1.3x, shift up to 10 %). Its pixels outside the original image are filled by
# reflecting the image (`padding_mode="reflection"`); the source's rotation fills
# them with black instead, which the network then also has to learn to ignore.
#
# ## Colour augmentation: maps of values, not of coordinates
#
# Not every augmentation moves pixels. Brightness, contrast and saturation
# change each pixel's value and leave its position alone:
#
# $$
# \text{brightness: } I' = cI, \qquad
# \text{contrast: } I' = cI + (1-c)\,\bar{g}, \qquad
# \text{saturation: } I' = cI + (1-c)\,g(I),
# $$
#
# where $g(I)$ is the grey value of each pixel and $\bar g$ its mean over the
# image, and results are clipped to $[0, 1]$. No interpolation is involved.

# %% figure={"caption": "Colour augmentations change pixel values, not positions.", "name": "fig-colour", "alt": "Five versions of a cat: original, brighter, low contrast, grey, and oversaturated."}
x = big_cat
show_images(
    torch.stack(
        [
            x,
            adjust_brightness(x, 1.5),
            adjust_contrast(x, 0.4),
            adjust_saturation(x, 0.0),
            adjust_saturation(x, 2.0),
        ]
    ),
    titles=["input", "brightness 1.5", "contrast 0.4", "saturation 0", "saturation 2"],
    ncols=5,
    size=1.9,
)

# %% [markdown]
# ## Which augmentations keep the label?
#
# An augmentation is only valid if the label stays true. CIFAR-10's classes are
# (roughly) symmetric left-to-right, so a horizontal flip is safe: a mirrored
# horse is a horse. Upside-down horses and ships do not occur in the test set, so
# a vertical flip teaches the network something useless. For digits, even a
# horizontal flip changes meaning, and a 180° rotation turns a "6" into a "9".
# Medical images may carry meaning in left versus right (the heart is on the
# left). Ask, for every augmentation: *would a human still give the same label,
# and can this image occur at test time?*

# %% figure={"caption": "A horizontal flip keeps a CIFAR-10 image realistic; a vertical flip does not.", "name": "fig-flips", "alt": "Three cats: the original, mirrored left-right, and upside down."}
show_images(
    torch.stack(
        [big_cat, warp(big_cat[None], hflip())[0], warp(big_cat[None], vflip())[0]]
    ),
    titles=["input", "horizontal flip: fine", "vertical flip: unrealistic"],
    ncols=3,
    size=2.4,
)

# %% [markdown]
# ## Explore
#
# Move the sliders to build a matrix: the left panel shows the input with the
# grid of points where the output pixels sample it (the inverse map), the middle
# the augmented image, the right the matrix. In the rendered book the sliders
# show their saved state only (Python does not run there); open the chapter in
# Colab to use them. The static figure below shows a few settings side by side.

# %%
augmentation_explorer(cat)

# %% [markdown]
# The same panels for four fixed settings, drawn by the function the sliders
# call ({numref}`fig-explorer-static`):

# %% figure={"caption": "The explorer's panels for four fixed settings: rotation; zoom with a shift; shear; mirror with rotation.", "name": "fig-explorer-static", "alt": "Four rows, each with the input cat and a yellow grid of sampling points, the augmented cat, and the 3 by 3 matrix."}
explorer_grid(
    cat,
    [
        dict(angle=30.0),
        dict(zoom=1.6, shift_x=0.15),
        dict(shear_angle=25.0),
        dict(hflip=True, angle=-15.0),
    ],
)

# %% [markdown]
# ## Test-time preprocessing must be deterministic
#
# The source applies its random flip and rotation to the *test* set as well. Then
# the measured accuracy depends on the random draw: the same network, the same
# test images, a different number each time. We measure that wobble with a linear
# probe trained in seconds (the fast path, `strategy="probe"`: a head fitted to
# the frozen backbone's features; chapter 4 explains it) evaluated five times with
# the source's random test transform, and once deterministically.

# %%
from tlbook.train import evaluate

probe_cfg = cfg.replace(image_size=min(96, cfg.image_size))
probe = run(probe_cfg, strategy="probe")
pre = probe.preprocessing
fixed = evaluate(probe.model, test, preprocessing=pre).accuracy
random_accs = [
    evaluate(
        probe.model, test, preprocessing=pre, augment=SOURCE_AUGMENT, seed=s
    ).accuracy
    for s in range(5)
]
print(f"deterministic test accuracy:         {fixed:.1%} (the same every time)")
print(
    f"with the source's random transform:  "
    + ", ".join(f"{a:.1%}" for a in random_accs)
)
spread = glue(
    "random_eval_spread", round(100 * (max(random_accs) - min(random_accs)), 1)
)
drop = glue(
    "random_eval_drop", round(100 * (fixed - sum(random_accs) / len(random_accs)), 1)
)
print(f"spread of the random evaluations:    {spread:.1f} points")
print(f"deterministic minus their mean:      {drop:+.1f} points")

# %% [markdown]
# The source's random test transform does two things to the number. It adds
# noise: five evaluations of the *same* model spread over
# {glue:text}`random_eval_spread:.1f` points, so two recipes that differ by less
# cannot be told apart by one such evaluation. And it biases it: on average the
# random evaluations sit {glue:text}`random_eval_drop:.1f` points below the
# deterministic one, because rotated test images with filled-in corners are
# harder than the images themselves, a systematic error that no number of repeats
# averages away. Evaluation therefore uses only the deterministic part of
# preprocessing (resize and normalise); `tlbook.train.evaluate` does this unless
# asked to reproduce the source's flaw.
#
# ## Summary
#
# - An image is a function of coordinates; a geometric augmentation is a
#   coordinate map, written as a $3\times3$ homogeneous matrix.
# - Implementations pull values through the inverse map and interpolate
#   (bilinear for images); pushing pixels forward leaves holes.
# - Composition is a matrix product ($BA$: first $A$), order matters, and
#   $(BA)^{-1} = A^{-1}B^{-1}$.
# - Random augmentations are distributions over these matrices; `tlbook` draws
#   one matrix per image and warps a whole batch in one `grid_sample` call,
#   together with the resize to the network's input size.
# - Colour augmentations change values, not positions.
# - An augmentation must keep the label true; test-time preprocessing must be
#   deterministic.

# %% [markdown]
# ## Exercises
#
# Each exercise ends with `check("2.N", ...)`, which says whether your answer
# passes and, if not, what is wrong. The solutions are folded under each cell;
# try first. Students get the same exercises with empty stubs in
# `exercises/02_augmentation.ipynb` (see {doc}`instructors`).

# %% tags=["exercise-setup"]
import math

import torch

from tlbook.augment import apply_to_points, rotation, translation, warp
from tlbook.exercises import check

# %% [markdown]
# ### Exercise 2.1: a vertical shear (derive and code)
#
# Write the $3\times3$ homogeneous matrix of the vertical shear
# $x' = x,\; y' = y + x\tan\varphi$ for an angle $\varphi$ in degrees.


# %% tags=["exercise", "nbval-check-output"]
def vertical_shear(phi_degrees: float) -> torch.Tensor:
    """3x3 matrix: x' = x, y' = y + tan(phi) * x."""
    # BEGIN SOLUTION
    t = math.tan(math.radians(phi_degrees))
    return torch.tensor([[1.0, 0.0, 0.0], [t, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # END SOLUTION


check("2.1", vertical_shear)

# %% [markdown]
# ### Exercise 2.2: rotation about a corner (derive and code)
#
# `rotation(30.0)` turns about the image centre, the origin of `tlbook`'s
# centred pixel coordinates. Write the matrix that turns a `size` x `size`
# image by `degrees` about its **top-left corner**, at $(-\frac{size}{2},
# -\frac{size}{2})$ (for $32\times32$: $(-16, -16)$), from `translation` and
# `rotation`. Hint: move the corner to the origin, rotate, move it back, and
# remember that $BA$ applies $A$ first.


# %% tags=["exercise", "nbval-check-output"]
def about_corner(degrees: float, size: int) -> torch.Tensor:
    """3x3 matrix: turn by degrees about the top-left corner of a size x size image."""
    # BEGIN SOLUTION
    h = size / 2
    return translation(-h, -h) @ rotation(degrees) @ translation(h, h)
    # END SOLUTION


check("2.2", about_corner)

# %% [markdown]
# ### Exercise 2.3: how much of a rotated image is border? (predict, then measure)
#
# The source rotates by up to 10°. Guess what fraction of a $32\times32$ output
# image falls outside the input (and is filled with zeros) after a 10° rotation,
# then measure it: warp an image of ones with `warp(..., padding_mode="zeros")`
# and count the output pixels below 0.5. Compare with 45°. What does the border
# teach the network, and why does the book's recipe prefer flips and crops?


# %% tags=["exercise", "nbval-check-output"]
def outside_fraction(degrees: float) -> float:
    """Share of a 32x32 output that lies outside the input after rotation(degrees)."""
    # BEGIN SOLUTION
    ones = torch.ones(1, 1, 32, 32)
    return float(
        (warp(ones, rotation(degrees), padding_mode="zeros") < 0.5).float().mean()
    )
    # END SOLUTION


check("2.3", outside_fraction)
