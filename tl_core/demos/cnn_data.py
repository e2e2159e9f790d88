"""Digits for the CNN demo, all offline: printed digits rendered from fonts, sklearn's handwritten
digits, and the handwritten digits transformed by a shift of strength `gap`.

Every image is 8x8 with values 0..16, preprocessed like sklearn's `load_digits`: the digit is
written into a 32x32 bitmap (height-normalised, centred), and each 4x4 block's count of inked
pixels becomes one pixel of the 8x8 image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

# Fonts matplotlib ships that have ordinary digits (cmmi10's old-style figures are left out).
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmb10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmti10.ttf",
)
STROKES = (0, 1, 2)  # extra stroke width in pixels of the 64x64 canvas (pens differ)
CANVAS = 64  # glyphs are drawn here first, about FONT_SIZE pixels tall
FONT_SIZE = 44
MAX_ROTATION = 15.0  # degrees of random rotation of a printed digit
MAX_SHEAR = 0.35  # random horizontal shear (slant) of a printed digit
MIN_WIDTH = 0.6  # printed digits are squeezed sideways by a random factor in [MIN_WIDTH, 1]
WOBBLE = 0.06  # smooth random warp, as a fraction of the canvas: a hand is not a font
WOBBLE_GRID = 4  # the warp is random on a 4x4 grid, smoothly interpolated between


@lru_cache(maxsize=1)
def glyph_bank() -> tuple[np.ndarray, np.ndarray]:
    """Every font x stroke x digit drawn once on a 64x64 canvas, centred: images in [0, 1] and
    their digits. Cached: later calls cost nothing."""
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    images, digits = [], []
    for file in FONT_FILES:
        font = ImageFont.truetype(os.path.join(folder, file), FONT_SIZE)
        for stroke in STROKES:
            for digit in range(10):
                big = Image.new("L", (2 * CANVAS, 2 * CANVAS))
                ImageDraw.Draw(big).text(
                    (CANVAS // 2, CANVAS // 4),
                    str(digit),
                    font=font,
                    fill=255,
                    stroke_width=stroke,
                    stroke_fill=255,
                )
                left, top, right, bottom = big.getbbox()
                glyph = big.crop((left, top, right, bottom))
                canvas = Image.new("L", (CANVAS, CANVAS))
                canvas.paste(glyph, ((CANVAS - glyph.width) // 2, (CANVAS - glyph.height) // 2))
                images.append(np.asarray(canvas, dtype=np.float32) / 255.0)
                digits.append(digit)
    bank = np.stack(images), np.array(digits)
    for a in bank:
        a.setflags(write=False)
    return bank


@lru_cache(maxsize=4)
def _bicubic_weights(size_in: int, size_out: int) -> torch.Tensor:
    """[size_out, size_in]: the weights F.interpolate(mode="bicubic", align_corners=True) gives
    each of size_in points at each of size_out along one axis (interpolating the identity). The
    2-D interpolation is separable, A @ c @ Aᵀ: as a matrix product it runs many times faster on
    thousands of small grids than interpolate, to float rounding."""
    identity = torch.eye(size_in).view(size_in, 1, 1, size_in)
    rows = F.interpolate(identity, size=(1, size_out), mode="bicubic", align_corners=True)
    return rows[:, 0, 0, :].T.contiguous()


def _sampling_grid(theta: torch.Tensor, size: int, warp: torch.Tensor | None = None) -> torch.Tensor:
    """F.affine_grid(theta, (n, 1, size, size), align_corners=False) for n matrices theta
    [n, 2, 3], plus `warp` [n, 2, size, size] when given (which it then holds): where each output
    pixel reads. Each coordinate is an outer sum of a row part and a column part, added in two
    passes: about five times faster than affine_grid on thousands of canvases, to float rounding."""
    centres = (torch.arange(size, dtype=theta.dtype) * 2 + 1) / size - 1  # pixel centres in [-1, 1]
    grid = torch.zeros(theta.shape[0], 2, size, size, dtype=theta.dtype) if warp is None else warp
    for k in range(2):  # x, then y
        by_row = theta[:, k, 1, None] * centres + theta[:, k, 2, None]
        by_column = theta[:, k, 0, None] * centres
        grid[:, k].add_(by_row[:, :, None]).add_(by_column[:, None, :])
    return grid.permute(0, 2, 3, 1)


def to_digits_format(canvas: torch.Tensor) -> torch.Tensor:
    """[N, 1, H, W] ink in [0, 1] -> [N, 8, 8] counts 0..16, the way sklearn's digits were made:
    crop each digit's bounding box, scale it (keeping its aspect) so its longer side fills a 32x32
    bitmap, centre it, binarise, and count the inked pixels of each 4x4 block."""
    n, _, height, width = canvas.shape
    ink = canvas[:, 0] > 0.5
    rows, cols = ink.any(2), ink.any(1)
    top = rows.float().argmax(1)
    bottom = height - 1 - rows.flip(1).float().argmax(1)
    left = cols.float().argmax(1)
    right = width - 1 - cols.flip(1).float().argmax(1)
    side = torch.maximum(bottom - top + 1, right - left + 1).float()
    # The grid maps output coordinates in [-1, 1] to input ones (as affine_grid, align_corners=False).
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = side / width
    theta[:, 1, 1] = side / height
    theta[:, 0, 2] = (left + right + 1).float() / width - 1
    theta[:, 1, 2] = (top + bottom + 1).float() / height - 1
    bitmap = F.grid_sample(canvas, _sampling_grid(theta, 32), align_corners=False) > 0.5
    return (F.avg_pool2d(bitmap.float(), 4) * 16).round()[:, 0]


def render_printed_digits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` printed digits (balanced classes) in sklearn's 8x8 format: a random font and pen
    width, rotated by up to ±MAX_ROTATION degrees and slanted by up to ±MAX_SHEAR."""
    bank, bank_digits = glyph_bank()
    n_styles = len(bank) // 10
    digits = rng.permutation(np.arange(n) % 10)
    chosen = rng.integers(n_styles, size=n) * 10 + digits
    angle = np.deg2rad(rng.uniform(-MAX_ROTATION, MAX_ROTATION, n))
    shear = rng.uniform(-MAX_SHEAR, MAX_SHEAR, n)
    widen = 1.0 / rng.uniform(MIN_WIDTH, 1.0, n)
    # Sampling matrix = rotation @ shear @ squeeze: each output pixel reads the glyph canvas there.
    cos, sin = np.cos(angle), np.sin(angle)
    theta = np.zeros((n, 2, 3), dtype=np.float32)
    theta[:, 0, 0], theta[:, 0, 1] = cos * widen, cos * shear - sin
    theta[:, 1, 0], theta[:, 1, 1] = sin * widen, sin * shear + cos
    canvas = torch.from_numpy(bank[chosen])[:, None]
    coarse = rng.uniform(-WOBBLE, WOBBLE, (n, 2, WOBBLE_GRID, WOBBLE_GRID)).astype(np.float32)
    smooth = _bicubic_weights(WOBBLE_GRID, CANVAS)
    warp = (smooth @ torch.from_numpy(coarse) @ smooth.T).mul_(2)  # bicubic, in [-1, 1] units
    moved = F.grid_sample(canvas, _sampling_grid(torch.from_numpy(theta), CANVAS, warp), align_corners=False)
    assert (bank_digits[chosen] == digits).all()
    return to_digits_format(moved).numpy(), digits


def warp_digits(images: np.ndarray, copies: int, rng: np.random.Generator) -> np.ndarray:
    """`copies` randomly warped versions of every 8x8 digit, [copies * N, 8, 8] (all N digits,
    then all N again...): each is read at 32x32 (bilinear), rotated by up to ±WARP_ROTATION
    degrees, slanted by up to ±WARP_SHEAR, scaled by a factor in WARP_SCALE and moved by up to
    ±WARP_SHIFT of its width, then counted back into 4x4 blocks like sklearn's digits.

    The same kind of variety a new writer brings; a net trained on it learns strokes rather than
    the exact pixels of its few training digits."""
    n = len(images) * copies
    x = torch.from_numpy(np.tile(np.asarray(images, dtype=np.float32), (copies, 1, 1)))[:, None] / 16.0
    angle = np.deg2rad(rng.uniform(-WARP_ROTATION, WARP_ROTATION, n))
    shear = rng.uniform(-WARP_SHEAR, WARP_SHEAR, n)
    shrink = 1.0 / rng.uniform(*WARP_SCALE, n)
    shift = rng.uniform(-2 * WARP_SHIFT, 2 * WARP_SHIFT, (n, 2))  # [-1, 1] spans the width
    # Sampling matrix = (rotation @ shear) / scale, plus the shift: output pixel -> where it reads.
    cos, sin = np.cos(angle), np.sin(angle)
    theta = np.zeros((n, 2, 3), dtype=np.float32)
    theta[:, 0, 0], theta[:, 0, 1] = cos * shrink, (cos * shear - sin) * shrink
    theta[:, 1, 0], theta[:, 1, 1] = sin * shrink, (sin * shear + cos) * shrink
    theta[:, :, 2] = shift
    fine = F.grid_sample(x, _sampling_grid(torch.from_numpy(theta), 32), align_corners=False)
    return (F.avg_pool2d(fine, 4) * 16.0)[:, 0].numpy()


@lru_cache(maxsize=1)
def handwritten_digits() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's bundled handwritten digits: [1797, 8, 8] values 0..16, and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images, labels = data.images.astype(np.float32), data.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


# ------------------------------------------------------------------------------------ scenarios
SCENARIOS = ("sim2real", "new_classes", "shift")
N_SOURCE_TEST = 500  # rendered source test digits (sim2real)
MAX_SHIFT_ROTATION = 90.0  # degrees the shift scenario rotates target digits at gap = 1
MAX_SHIFT_BLUR = 0.8  # Gaussian blur sigma (pixels) at gap = 1
MAX_SHIFT_NOISE = 0.15  # noise sigma, as a fraction of full ink, at gap = 1
# From gap = 0.5 on, a growing fraction 2·gap − 1 of target digits is drawn light-on-dark.
WARP_ROTATION = 20.0  # degrees: random rotation of a warped source copy (new_classes)
WARP_SHEAR = 0.3  # random slant of a warped copy
WARP_SCALE = (0.85, 1.15)  # random size of a warped copy
WARP_SHIFT = 0.15  # random move of a warped copy, as a fraction of its width


@dataclass(frozen=True)
class Digits:
    """Train and test images ([N, 8, 8], values 0..16) and labels (0..k-1) of one domain."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple  # the digit each label stands for


def _rng(seed: int, stream: int) -> np.random.Generator:
    """An independent random stream per purpose, so that caching one part never shifts another."""
    return np.random.default_rng([seed, stream])


def _split(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices split per class: about `fraction` of each class first, the rest second."""
    first, second = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        cut = int(round(fraction * len(members)))
        first.append(members[:cut])
        second.append(members[cut:])
    return np.concatenate(first), np.concatenate(second)


@lru_cache(maxsize=8)
def _handwritten_halves(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's digits split in two halves per class (for the shift scenario)."""
    _, labels = handwritten_digits()
    return _split(labels, 0.5, _rng(seed, 1))


def source_digits(scenario: str, n_source: int, seed: int, copies: int = 0) -> Digits:
    """The source domain: rendered printed digits (sim2real), handwritten 0-4 (new_classes), or
    one half of the handwritten digits (shift). `n_source` applies to rendered digits only;
    `copies` randomly warped copies of each handwritten 0-4 training digit join them in
    new_classes (the test digits stay as they are). Cached: treat the arrays as read-only."""
    return _source_digits(scenario, n_source, seed, copies)  # one cache entry however it is called


@lru_cache(maxsize=16)
def _source_digits(scenario: str, n_source: int, seed: int, copies: int) -> Digits:
    images, labels = handwritten_digits()
    if scenario == "sim2real":
        x, y = render_printed_digits(n_source, _rng(seed, 2))
        x_test, y_test = render_printed_digits(N_SOURCE_TEST, _rng(seed, 3))
        return Digits(x, y, x_test, y_test, tuple(range(10)))
    if scenario == "new_classes":
        pool = np.flatnonzero(labels < 5)
    elif scenario == "shift":
        pool = _handwritten_halves(seed)[0]
    else:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    train, test = _split(labels[pool], 2 / 3, _rng(seed, 4))
    classes = tuple(int(c) for c in np.unique(labels[pool]))
    x, y = images[pool[train]], labels[pool[train]]
    if scenario == "new_classes" and copies:
        x = np.concatenate([x, warp_digits(x, copies, _rng(seed, 8))])
        y = np.tile(y, copies + 1)
    return Digits(x, y, images[pool[test]], labels[pool[test]], classes)


def shift_digits(images: np.ndarray, gap: float, seed: int) -> np.ndarray:
    """The shift of strength `gap`, with torchvision.transforms.v2: rotate every digit by
    gap·90°, blur it (sigma gap·0.8 px), add Gaussian noise (sigma gap·15% of full ink) and, past
    gap 0.5, draw a fraction 2·gap − 1 of the digits light-on-dark. gap = 0 changes nothing."""
    from torchvision.transforms import v2

    if gap == 0:
        return images
    rng = _rng(seed, 5)
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None] / 16.0
    x = v2.functional.rotate(x, gap * MAX_SHIFT_ROTATION, interpolation=v2.InterpolationMode.BILINEAR)
    x = v2.functional.gaussian_blur(x, kernel_size=[3, 3], sigma=[gap * MAX_SHIFT_BLUR] * 2)
    noise = torch.from_numpy(rng.standard_normal(x.shape).astype(np.float32))
    x = (x + gap * MAX_SHIFT_NOISE * noise).clamp(0.0, 1.0)
    inverted = torch.from_numpy(rng.random(len(x)) < 2 * gap - 1)
    x[inverted] = v2.functional.invert(x[inverted])
    return (x[:, 0] * 16.0).numpy()


@lru_cache(maxsize=16)
def target_digits(scenario: str, gap: float, seed: int) -> Digits:
    """The target domain before labels are chosen: a pool to draw labelled digits from (x_train)
    and a test set. Handwritten digits (sim2real), handwritten 5-9 (new_classes), or the other
    half of the handwritten digits shifted by `gap` (shift). Cached: read-only arrays."""
    images, labels = handwritten_digits()
    if scenario == "sim2real":
        pool = np.arange(len(labels))
    elif scenario == "new_classes":
        pool = np.flatnonzero(labels >= 5)
    elif scenario == "shift":
        pool = _handwritten_halves(seed)[1]
    else:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    x = shift_digits(images[pool], gap, seed) if scenario == "shift" else images[pool]
    classes = tuple(int(c) for c in np.unique(labels[pool]))
    y = labels[pool] - classes[0]
    train, test = _split(y, 0.5, _rng(seed, 6))
    digits = Digits(x[train], y[train], x[test], y[test], classes)
    for a in (digits.x_train, digits.y_train, digits.x_test, digits.y_test):
        a.setflags(write=False)
    return digits


def labelled_subset(labels: np.ndarray, n_per_class: int, seed: int) -> np.ndarray:
    """Indices of `n_per_class` examples of each class, from one seeded order per class, so a
    larger set contains every smaller one (a data-efficiency curve adds labels, it does not
    redraw them)."""
    rng = _rng(seed, 7)
    chosen = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        if len(members) < n_per_class:
            raise ValueError(f"n_target must be at most {len(members)} here, got {n_per_class}")
        chosen.append(members[:n_per_class])
    return np.sort(np.concatenate(chosen))


# ---------------------------------------------------------------------------- the user's images
INK_BORDER = 2  # pixels along each edge whose mean brightness is taken as the background
INK_CHUNK = 256  # images converted at a time (float copies of thousands would take memory)


def user_ink(images: np.ndarray) -> np.ndarray:
    """A user's RGB images ([N, S, S, 3] uint8) as 8x8 digits ([N, 8, 8], ink 0..16).

    Grey = ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B, what Pillow's "L" uses), in 0..1. The
    border (INK_BORDER pixels along the edges) is taken as the background: when its mean is
    above 0.5 the image is dark on light (a pen on paper) and is inverted, so that, as in
    sklearn's digits, ink is high and the background low, whichever way a picture was drawn.
    Then the background level (the border's mean) becomes 0 (anything below it too), the image
    is averaged over an 8x8 grid of blocks, and scaled so its strongest block is 16. An image
    with no contrast at all stays 0.
    """
    if len(images) > INK_CHUNK:
        return np.concatenate([user_ink(images[i : i + INK_CHUNK]) for i in range(0, len(images), INK_CHUNK)])
    rgb = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)) / 255.0
    grey = rgb @ torch.tensor([0.299, 0.587, 0.114])  # [N, S, S]
    edge = torch.ones(grey.shape[1:], dtype=torch.bool)
    edge[INK_BORDER:-INK_BORDER, INK_BORDER:-INK_BORDER] = False
    background = grey[:, edge].mean(1)  # [N]
    light = background > 0.5
    grey = torch.where(light[:, None, None], 1.0 - grey, grey)
    background = torch.where(light, 1.0 - background, background)
    ink = (grey - background[:, None, None]).clamp(min=0.0)
    blocks = F.adaptive_avg_pool2d(ink[:, None], 8)[:, 0]  # [N, 8, 8]
    strongest = blocks.amax((1, 2), keepdim=True)
    scaled = torch.where(strongest > 1e-6, blocks / strongest.clamp(min=1e-6) * 16.0, 0.0)
    return scaled.numpy()


def user_split(
    labels: np.ndarray, class_names: tuple[str, ...], n_per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the labelled images (`n_per_class` of each class) and of the test images (all
    the others), from one seeded order per class as in :func:`labelled_subset`: a larger
    `n_per_class` labels every image a smaller one did, and tests on the rest.

    Raises UserDataError naming the numbers when a class has fewer than n_per_class + 1 images
    (every class needs at least one image to test on).
    """
    from tl_core.userdata import UserDataError

    counts = np.bincount(labels, minlength=len(class_names))
    smallest = int(np.argmin(counts))
    if counts[smallest] < n_per_class + 1:
        fewest = int(counts[smallest])
        hint = (
            f": choose n_target at most {fewest - 1}, or add images"
            if fewest > 1
            else ": add at least one more image to it (every class needs 2 images or more)"
        )
        raise UserDataError(
            f"n_target = {n_per_class} per class needs at least "
            f"{n_per_class + 1} images of class '{class_names[smallest]}' "
            f"({n_per_class} labelled + 1 to test); it has {fewest}{hint}"
        )
    rng = _rng(seed, 7)
    labelled, test = [], []
    for c in range(len(class_names)):
        members = rng.permutation(np.flatnonzero(labels == c))
        labelled.append(members[:n_per_class])
        test.append(members[n_per_class:])
    return np.sort(np.concatenate(labelled)), np.sort(np.concatenate(test))


def user_digits(
    ink: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], n_per_class: int, seed: int
) -> Digits:
    """The user's target task as digits (`ink` = :func:`user_ink` of the images): labelled
    images to train on (x_train), the rest to test on (x_test), class indices as labels and the
    class names as `classes`."""
    labelled, test = user_split(labels, class_names, n_per_class, seed)
    return Digits(ink[labelled], labels[labelled], ink[test], labels[test], tuple(class_names))
