"""A zip of image class folders unpacked safely into a temporary folder, for the image reader.

A zip is a file a stranger controls, so before anything is unpacked: the upload's bytes
(LIMITS.max_upload_mb), the central directory's size and entry count, each entry's path (none
may leave the extraction folder: no '..', no absolute path, no link), encryption, the declared
unpacked sizes (at most EXTRACT_FACTOR times the upload cap) and each entry's compression ratio
(zip bombs). While unpacking, bytes are counted again, so a header that understates a size
cannot get past the cap. Unpacking goes into a fresh temporary folder per call, removed
afterwards, also on failure.

``__MACOSX/`` and hidden files (``.DS_Store``, ``._1.jpg``) are ignored; other files that are not
images (by their ending, as ImageFolder decides) are skipped and counted in ``notes``; a single
folder wrapping the class folders is unwrapped.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from tl_core import limits
from tl_core.userdata import UserDataError

ENTRY_SLACK = 100  # files and folders allowed beyond 2 x max_upload_images
EXTRACT_FACTOR = 5  # unpacked bytes may be this many times the upload cap
MAX_RATIO = 200  # an entry compressed more than this to 1 is refused ...
RATIO_FLOOR = 1 << 20  # ... when it unpacks to more than this many bytes
CENTRAL_BYTES_PER_ENTRY = 512  # allowance per entry for the zip's table of contents
CHUNK = 1 << 16  # bytes copied at a time while unpacking
NAMES_SHOWN = 5  # file names a note lists before "..."


def image_endings() -> tuple[str, ...]:
    """The file endings read as images: torchvision ImageFolder's (.jpg, .jpeg, .png, ...)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return tuple(IMG_EXTENSIONS)


def is_image_name(path: str) -> bool:
    """Whether a file is read as an image, by its ending."""
    return path.lower().endswith(image_endings())


def max_entries() -> int:
    """Files and folders a zip may list: twice the image cap (macOS adds a ._ twin per file)
    plus some slack for folders and other files."""
    return 2 * limits.LIMITS.max_upload_images + ENTRY_SLACK


def max_extracted_bytes() -> int:
    """Bytes all the images together may unpack to."""
    return EXTRACT_FACTOR * limits.LIMITS.max_upload_mb * 2**20


@dataclass
class _Entry:
    info: zipfile.ZipInfo
    parts: tuple[str, ...]  # path components inside the zip
    is_dir: bool


@contextmanager
def unpacked(raw: bytes, name: str, notes: list[str]) -> Iterator[str]:
    """The folder the zip's class folders were unpacked into, checked as the module doc says;
    removed when the block ends. What was ignored or skipped is added to `notes`."""
    _check_upload_size(raw, name)
    _check_central_directory(raw, name)
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except UserDataError:
        raise
    except Exception:  # zipfile raises many kinds of error on garbage; every one means this
        raise UserDataError(_not_a_zip(name)) from None
    with archive:
        entries = _entries(archive, name, notes)
        images, strip = _plan(entries, name, notes)
        with tempfile.TemporaryDirectory(prefix="tl_images_", ignore_cleanup_errors=True) as root:
            _extract(archive, entries, images, strip, root, name)
            yield root


def _not_a_zip(name: str) -> str:
    return (
        f"{name} is not a zip file that can be read: upload a .zip of class folders, one "
        f"folder per class with its images inside (e.g. cats/1.jpg, dogs/1.jpg)"
    )


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MB"


def counted(n: int, one: str, many: str) -> str:
    """'1 file', '3 files'."""
    return f"{n} {one if n == 1 else many}"


def listing(names: list[str], shown: int = NAMES_SHOWN) -> str:
    """The first few names, then "..." when there are more."""
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def _check_upload_size(raw: bytes, name: str) -> None:
    cap = limits.LIMITS.max_upload_mb
    if len(raw) > cap * 2**20:
        raise UserDataError(
            f"{name} is {_mb(len(raw))}; an upload may be at most {cap} MB: use fewer or smaller images"
        )
    if not raw:
        raise UserDataError(
            f"{name} is empty: upload a zip of class folders, one folder per "
            f"class with its images inside (e.g. cats/1.jpg, dogs/1.jpg)"
        )


def _check_central_directory(raw: bytes, name: str) -> None:
    """Before zipfile parses the table of contents (all of it, into memory): its declared
    entry count and size, from the end-of-central-directory record, within the caps."""
    end = raw.rfind(b"PK\x05\x06", max(0, len(raw) - 22 - 0xFFFF))
    if end < 0 or end + 22 > len(raw):
        raise UserDataError(_not_a_zip(name))
    count, size = struct.unpack_from("<HI", raw, end + 10)
    if count == 0xFFFF or size == 0xFFFFFFFF:  # zip64: the true values are in the zip64 record
        locator = end - 20
        if locator >= 0 and raw[locator : locator + 4] == b"PK\x06\x07":
            (record,) = struct.unpack_from("<Q", raw, locator + 8)
            if record + 56 <= len(raw) and raw[record : record + 4] == b"PK\x06\x06":
                count, size = struct.unpack_from("<QQ", raw, record + 32)
    _check_entry_count(count, name)
    if size > max_entries() * CENTRAL_BYTES_PER_ENTRY:
        raise UserDataError(
            f"{name} has a table of contents of {_mb(size)}, too long for at most "
            f"{max_entries()} files and folders: use fewer files or shorter names"
        )


def _check_entry_count(count: int, name: str) -> None:
    if count > max_entries():
        raise UserDataError(
            f"{name} has {count} files and folders; at most {max_entries()} are "
            f"allowed ({limits.LIMITS.max_upload_images} images plus some "
            f"folders and other files)"
        )


def _entries(archive: zipfile.ZipFile, name: str, notes: list[str]) -> list[_Entry]:
    """Every entry that is not macOS or hidden clutter; refuses the whole zip on an entry that
    would leave the extraction folder, is a link, or is encrypted."""
    infos = archive.infolist()
    _check_entry_count(len(infos), name)
    kept, ignored = [], 0
    for info in infos:
        parts = _safe_parts(info, name)
        if not parts:
            continue
        if parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
            ignored += 1
            continue
        if info.flag_bits & 0x1:
            raise UserDataError(
                f"{name} is password-protected ('{info.filename}'): zip the folders again without a password"
            )
        kept.append(_Entry(info, parts, info.is_dir()))
    if ignored:
        what = counted(ignored, "hidden or macOS system entry", "hidden or macOS system entries")
        notes.append(f"ignored {what} (__MACOSX, .DS_Store, ...)")
    return kept


def _safe_parts(info: zipfile.ZipInfo, name: str) -> tuple[str, ...]:
    """The entry's path components; UserDataError for a path that leaves the folder (zip-slip)."""
    path = info.filename.replace("\\", "/")  # some Windows tools write backslashes
    mode = info.external_attr >> 16
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    leaves = (
        path.startswith("/")
        or (len(path) > 1 and path[1] == ":")
        or ".." in parts
        or stat.S_ISLNK(mode)
        or "\0" in path
    )
    if leaves:
        raise UserDataError(
            f"{name} has an entry whose path leaves its folder "
            f"('{info.filename}'): every path must stay inside the zip "
            f"(no '..', no absolute paths, no links)"
        )
    return parts


def _plan(entries: list[_Entry], name: str, notes: list[str]) -> tuple[list[_Entry], int]:
    """The image entries to unpack, and how many wrapping folders to strip from every path.

    Checks the image count, the declared unpacked size and each entry's compression ratio,
    all before anything is unpacked.
    """
    files = [e for e in entries if not e.is_dir]
    images = [e for e in files if is_image_name(e.parts[-1])]
    others = [e for e in files if not is_image_name(e.parts[-1])]
    if not files:
        raise UserDataError(
            f"{name} has no files in it: upload a zip of class folders, one "
            f"folder per class with its images inside (e.g. cats/1.jpg)"
        )
    if len(images) > limits.LIMITS.max_upload_images:
        raise UserDataError(
            f"{name} has {len(images)} images; at most {limits.LIMITS.max_upload_images} are allowed"
        )
    if others:
        what = counted(len(others), "file that is not an image", "files that are not images")
        notes.append(
            f"skipped {what} (images end in {', '.join(image_endings())}): "
            f"{listing(['/'.join(e.parts) for e in others])}"
        )
    strip = _wrapping_depth(images)
    if strip:
        notes.append(f"used the class folders inside {'/'.join(images[0].parts[:strip])}/")
        outside = [e for e in files if e.parts[:strip] != images[0].parts[:strip]]
        if outside:
            notes.append(
                f"skipped {counted(len(outside), 'file', 'files')} outside it: "
                f"{listing(['/'.join(e.parts) for e in outside])}"
            )
    loose = [e for e in images if len(e.parts) - strip == 1]
    if loose:
        notes.append(
            f"skipped {counted(len(loose), 'image', 'images')} not in a class folder: "
            f"{listing(['/'.join(e.parts) for e in loose])}"
        )
    unpack = [e for e in images if len(e.parts) - strip >= 2]
    _check_unpacked_sizes(unpack, name)
    return unpack, strip


def _wrapping_depth(images: list[_Entry]) -> int:
    """How many folders wrap the class folders. A folder that holds everything, with every
    image at least two folders down, wraps them (zipping a folder makes one): look inside it."""
    strip = 0
    while (
        images
        and len({e.parts[strip] for e in images}) == 1
        and all(len(e.parts) - strip >= 3 for e in images)
    ):
        strip += 1
    return strip


def _check_unpacked_sizes(unpack: list[_Entry], name: str) -> None:
    """The declared unpacked size, in all and per entry's compression ratio (zip bombs)."""
    declared = sum(e.info.file_size for e in unpack)
    if declared > max_extracted_bytes():
        raise UserDataError(
            f"{name} would unpack to {_mb(declared)}; at most "
            f"{_mb(max_extracted_bytes())} of images is allowed (a zip bomb, "
            f"or too many large images)"
        )
    for e in unpack:
        ratio = e.info.file_size / max(e.info.compress_size, 1)
        if e.info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise UserDataError(
                f"{name} has an entry compressed {ratio:.0f} to 1 "
                f"('{e.info.filename}'): more than {MAX_RATIO} to 1 looks like "
                f"a zip bomb, so the zip is refused"
            )


def _inside(root: str, parts: tuple[str, ...], name: str, original: str) -> str:
    """The path for `parts` under `root`, checked again after resolving it."""
    path = os.path.realpath(os.path.join(root, *parts))
    if os.path.commonpath([path, os.path.realpath(root)]) != os.path.realpath(root):
        raise UserDataError(
            f"{name} has an entry whose path leaves its folder ('{original}'): "
            f"every path must stay inside the zip (no '..', no absolute paths, "
            f"no links)"
        )
    return path


def copy_capped(source: BinaryIO, target: BinaryIO, budget: int, name: str = "the zip") -> int:
    """Copy `source` to `target` in chunks; UserDataError as soon as more than `budget` bytes
    came (so a header that understates a size cannot fill the disk). Returns the bytes copied."""
    copied = 0
    while chunk := source.read(CHUNK):
        copied += len(chunk)
        if copied > budget:
            raise UserDataError(
                f"{name} unpacks to more than the {_mb(max_extracted_bytes())} "
                f"allowed, more than its headers declare: refused as a zip bomb"
            )
        target.write(chunk)
    return copied


def _extract(
    archive: zipfile.ZipFile, entries: list[_Entry], images: list[_Entry], strip: int, root: str, name: str
) -> None:
    """Make the class folders (empty ones too, so they can be reported) and unpack the images."""
    inner = images[0].parts[:strip] if images else ()
    budget = max_extracted_bytes()
    for e in entries:
        folder = e.parts if e.is_dir else e.parts[:-1]
        if folder[:strip] == inner and len(folder) > strip:
            path = folder[strip:]
            _unpack(lambda: os.makedirs(_inside(root, path, name, e.info.filename), exist_ok=True), e, name)  # noqa: B023 - called at once
    for e in sorted(images, key=lambda e: e.parts):
        budget -= _unpack(lambda: _unpack_file(archive, e, root, strip, name, budget), e, name)  # noqa: B023


def _unpack_file(archive: zipfile.ZipFile, e: _Entry, root: str, strip: int, name: str, budget: int) -> int:
    path = _inside(root, e.parts[strip:], name, e.info.filename)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with archive.open(e.info) as source, open(path, "xb") as target:
            return copy_capped(source, target, budget, name)
    except FileExistsError:
        return 0  # the same name twice: the first one counts


def _unpack(step, e: _Entry, name: str):
    """Run one unpacking step; any failure but ours becomes a message naming the entry."""
    try:
        return step()
    except UserDataError:
        raise
    except NotImplementedError:
        raise UserDataError(
            f"{name} uses a compression method that cannot be read "
            f"('{e.info.filename}'): zip the folders again with ordinary "
            f"(deflate) compression"
        ) from None
    except OSError as error:  # a name too long for the disk, say
        raise UserDataError(
            f"{name}: '{e.info.filename}' cannot be unpacked "
            f"({error.strerror or error}): use shorter folder and file "
            f"names"
        ) from None
    except Exception as error:  # a bad CRC, a truncated stream, a damaged header...
        raise UserDataError(
            f"{name} is damaged: '{e.info.filename}' cannot be unpacked ({error}); zip the folders again"
        ) from None
