"""A zip of image class folders, read safely: the CNN demo's target task.

The layout is the one ``torchvision.datasets.ImageFolder`` reads, one folder per class::

    cats/1.jpg  cats/2.png  dogs/a.jpg  dogs/b.jpg  ...

A single folder wrapping the class folders (what zipping a folder produces, ``animals/cats/1.jpg``)
is unwrapped. ``__MACOSX/`` and hidden files (``.DS_Store``, ``._1.jpg``) are ignored; other files
that are not images (by their ending, as ImageFolder decides) and images that cannot be decoded
are skipped and counted in ``notes``.

Every image becomes IMAGE_SIZE x IMAGE_SIZE RGB (uint8): EXIF rotation applied, transparent
parts made white, then the largest centred square is cropped and resized (centre crop keeps the
aspect; the edges of a wide or tall image are cut off rather than padded).

The zip is checked and unpacked by :mod:`tl_core.userdata.image_zip` (caps on bytes, entries,
paths, zip bombs); this module decodes what it unpacked. Before decoding, each image's size is
read from its header (MAX_IMAGE_PIXELS each, MAX_TOTAL_PIXELS together; Pillow's own
decompression-bomb checks count too).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tl_core.userdata import ImageData, UserDataError, fingerprint
from tl_core.userdata.image_zip import counted, image_endings, is_image_name, listing, unpacked

__all__ = ["IMAGE_SIZE", "MAX_CLASSES", "image_endings", "is_image_name", "read_image_zip"]

IMAGE_SIZE = 64  # every image is stored IMAGE_SIZE x IMAGE_SIZE RGB
MAX_IMAGE_PIXELS = 4096 * 4096  # pixels of one image, read from its header before decoding
MAX_TOTAL_PIXELS = 400_000_000  # pixels of all images together (decoding time)
MAX_CLASSES = 100  # class folders (the head, the confusion matrix)
# Pillow decoders for ImageFolder's endings (.ppm and .pgm are both PPM).
FORMATS = ("JPEG", "PNG", "PPM", "BMP", "TIFF", "WEBP")


def read_image_zip(raw: bytes, name: str, **options: Any) -> ImageData:
    """Read a zip of class folders into IMAGE_SIZE x IMAGE_SIZE RGB images and labels.

    Classes are the folder names, sorted (label i = class_names[i]); images are in sorted path
    order, so the same bytes always give the same arrays. Takes no options. Raises
    UserDataError, and nothing else, when the file cannot be used.
    """
    if options:
        raise UserDataError(f"read_image_zip takes no options, got {', '.join(sorted(options))}")
    raw = bytes(raw)
    notes: list[str] = []
    with unpacked(raw, name, notes) as root:
        arrays, labels, class_names = _load(root, name, notes)
    notes.append(
        f"every image resized to {IMAGE_SIZE}x{IMAGE_SIZE} RGB: the largest centred "
        f"square cropped, transparent parts made white"
    )
    for a in (arrays, labels):
        a.setflags(write=False)
    return ImageData(
        name=name,
        fingerprint=fingerprint(raw, {}),
        options={},
        notes=tuple(notes),
        images=arrays,
        labels=labels,
        class_names=class_names,
    )


def _load(root: str, name: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Classes and images with ImageFolder's helpers, then every image decoded and resized."""
    from torchvision.datasets.folder import find_classes, make_dataset

    try:
        class_names, class_to_idx = find_classes(root)
    except FileNotFoundError:
        class_names, class_to_idx = [], {}
    _check_classes(name, class_names)
    samples = make_dataset(root, class_to_idx, extensions=image_endings(), allow_empty=True)
    listed = np.bincount([c for _, c in samples], minlength=len(class_names))
    _check_counts(name, class_names, listed, "")
    arrays = np.empty((len(samples), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    labels, damaged, total_pixels = [], [], 0
    for path, label in samples:
        shown = os.path.relpath(path, root).replace(os.sep, "/")
        array, pixels = _decode(path, shown, name, MAX_TOTAL_PIXELS - total_pixels)
        total_pixels += pixels
        if array is None:
            damaged.append(shown)
            continue
        arrays[len(labels)] = array
        labels.append(label)
    if damaged:
        notes.append(
            f"skipped {counted(len(damaged), 'damaged file', 'damaged files')} that "
            f"could not be read as images: {listing(damaged)}"
        )
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    _check_counts(name, class_names, counts, " that can be read")
    if len(labels) < len(arrays):
        arrays = arrays[: len(labels)].copy()  # not a view: the skipped rows' memory goes back
    return arrays, np.asarray(labels, dtype=np.int64), tuple(class_names)


def _check_classes(name: str, class_names: list[str]) -> None:
    if not class_names:
        raise UserDataError(
            f"{name} has no class folders: put each class's images in a folder "
            f"named after the class (e.g. cats/1.jpg, dogs/1.jpg)"
        )
    if len(class_names) == 1:
        raise UserDataError(
            f"{name} has only 1 class ('{class_names[0]}'): at least 2 class folders with images are needed"
        )
    if len(class_names) > MAX_CLASSES:
        raise UserDataError(
            f"{name} has {len(class_names)} class folders; at most {MAX_CLASSES} classes are allowed"
        )


def _check_counts(name: str, class_names: list[str], counts: np.ndarray, readable: str) -> None:
    found = listing([f"{c}: {int(n)}" for c, n in zip(class_names, counts)], shown=12)
    empty = [c for c, n in zip(class_names, counts) if n == 0]
    if empty:
        which = listing([f"'{c}'" for c in empty], shown=12)
        folders = "class folder" if len(empty) == 1 else "class folders"
        raise UserDataError(
            f"{name}: {folders} {which} {'has' if len(empty) == 1 else 'have'} "
            f"no images{readable} (found {found}): every class folder needs at "
            f"least 1 image ({', '.join(image_endings())})"
        )


def _decode(path: str, shown: str, name: str, pixels_left: int) -> tuple[np.ndarray | None, int]:
    """One image as [IMAGE_SIZE, IMAGE_SIZE, 3] uint8, and its pixel count; None when it cannot
    be decoded. Its size is checked from the header (Pillow opens lazily) before decoding."""
    from PIL import Image, ImageOps

    # Pillow itself warns of a decompression bomb above Image.MAX_IMAGE_PIXELS (89 million) and
    # refuses twice that: both far above MAX_IMAGE_PIXELS, so a warned image is refused below,
    # from its header, and Pillow's refusal (or its warning, where warnings are errors) here.
    try:
        image = Image.open(path, formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserDataError(_too_many_pixels(name, shown, None)) from None
    except Exception:  # not an image after all (UnidentifiedImageError), or a damaged header
        return None, 0
    with image:
        width, height = image.size
        pixels = width * height
        if pixels > MAX_IMAGE_PIXELS:
            raise UserDataError(_too_many_pixels(name, shown, (width, height)))
        if pixels > pixels_left:
            raise UserDataError(
                f"{name}: the images have more than "
                f"{MAX_TOTAL_PIXELS / 1e6:.0f} megapixels in all, the most "
                f"allowed: use fewer or smaller images"
            )
        try:
            image.draft(None, (IMAGE_SIZE, IMAGE_SIZE))  # JPEG: decode at a reduced scale
            square = ImageOps.fit(
                _upright_on_white(image),
                (IMAGE_SIZE, IMAGE_SIZE),
                method=Image.Resampling.LANCZOS,
                centering=(0.5, 0.5),
            )
            return np.asarray(square, dtype=np.uint8).copy(), pixels
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UserDataError(_too_many_pixels(name, shown, (width, height))) from None
        except Exception:  # truncated or damaged pixel data
            return None, pixels


def _upright_on_white(image):
    """RGB, turned as its EXIF orientation says, with transparent parts on white (a drawing on
    a transparent background would otherwise turn black on black)."""
    from PIL import Image, ImageOps

    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a damaged EXIF block: keep the image as stored
        pass
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", image.size, "white"), image).convert("RGB")
    return image.convert("RGB")


def _too_many_pixels(name: str, shown: str, size: tuple[int, int] | None) -> str:
    cap = f"at most {MAX_IMAGE_PIXELS / 1e6:.1f} megapixels per image are allowed"
    if size is None:
        return f"{name}: image '{shown}' is far too large; {cap}: make it smaller"
    return (
        f"{name}: image '{shown}' is {size[0]}x{size[1]} pixels "
        f"({size[0] * size[1] / 1e6:.1f} megapixels); {cap}: make it smaller"
    )
