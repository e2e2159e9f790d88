"""A zip of image class folders as the CNN's target task: read safely, or refused with a message
that says what was wrong; then every strategy runs on it. Every file is built here, in memory."""

from __future__ import annotations

import dataclasses
import io
import os
import stat
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import tl_core
from tl_core import limits, userdata
from tl_core.demos import cnn, cnn_data
from tl_core.userdata import UserDataError, image_zip, images
from tl_core.userdata.images import read_image_zip

SHAPES = ("circle", "square", "triangle")
PER_CLASS = 8
# A small, quick source model: these tests are about the data, not about the lessons.
QUICK = dict(n_source=400, source_epochs=3, epochs=5, n_target=2)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def own_temp_folder(tmp_path, monkeypatch):
    """Every temporary folder the reader makes goes here, so a test can see it was removed."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def shape_image(shape: str, rng: np.random.Generator, size: int = 48) -> Image.Image:
    """A black outline of `shape` at a random place and size on white paper."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    x, y = rng.integers(2, size // 3, 2)
    r = int(rng.integers(size // 3, size // 2 + 4))
    if shape == "circle":
        draw.ellipse((x, y, x + r, y + r), outline="black", width=3)
    elif shape == "square":
        draw.rectangle((x, y, x + r, y + r), outline="black", width=3)
    else:
        draw.line([(x, y + r), (x + r, y + r), (x + r // 2, y), (x, y + r)], fill="black", width=3)
    return image


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def make_zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return buffer.getvalue()


def shape_files(prefix: str = "", per_class: int = PER_CLASS, seed: int = 0) -> dict[str, bytes]:
    """Class folders of shapes; every third image a JPEG."""
    rng = np.random.default_rng(seed)
    files = {}
    for shape in SHAPES:
        for i in range(per_class):
            fmt, ending = ("JPEG", "jpg") if i % 3 == 2 else ("PNG", "png")
            files[f"{prefix}{shape}/{i}.{ending}"] = encoded(shape_image(shape, rng), fmt)
    return files


@pytest.fixture(scope="module")
def shapes_zip() -> bytes:
    return make_zip(shape_files())


@pytest.fixture(scope="module")
def shapes(shapes_zip) -> userdata.ImageData:
    return read_image_zip(shapes_zip, "shapes.zip")


def refused(raw: bytes, *words: str, name: str = "upload.zip") -> str:
    """The reader's message for `raw`, which must be a UserDataError containing `words`."""
    with pytest.raises(UserDataError) as caught:
        read_image_zip(raw, name)
    message = str(caught.value)
    for word in words:
        assert word in message, (word, message)
    return message


def with_limits(monkeypatch, **caps) -> None:
    monkeypatch.setattr(limits, "LIMITS", dataclasses.replace(limits.LIMITS, **caps))


# ------------------------------------------------------------------------------ accepted zips
def test_class_folders_become_labelled_images(shapes, shapes_zip):
    assert shapes.class_names == SHAPES
    assert shapes.images.shape == (3 * PER_CLASS, images.IMAGE_SIZE, images.IMAGE_SIZE, 3)
    assert shapes.images.dtype == np.uint8
    assert userdata.per_class_counts(shapes.labels, shapes.class_names) == {s: PER_CLASS for s in SHAPES}
    assert shapes.kind == "images" and shapes.options == {}
    assert shapes.fingerprint == userdata.fingerprint(shapes_zip, {})
    assert shapes.summary()["n_images"] == 3 * PER_CLASS and shapes.summary()["n_classes"] == 3
    again = userdata.read("images", shapes_zip, "shapes.zip", **shapes.options)
    assert np.array_equal(again.images, shapes.images) and np.array_equal(again.labels, shapes.labels)


def test_a_folder_wrapping_the_class_folders_is_looked_inside(shapes):
    wrapped = read_image_zip(make_zip(shape_files(prefix="my shapes/")), "my shapes.zip")
    assert wrapped.class_names == SHAPES
    assert np.array_equal(wrapped.images, shapes.images)
    assert any("inside my shapes/" in note for note in wrapped.notes)


def test_macos_clutter_is_ignored_and_other_files_are_skipped_and_named(shapes):
    files = shape_files()
    files.update(
        {
            "__MACOSX/circle/._0.png": b"\0\5\26\7",
            "circle/.DS_Store": b"\0\0\0\1Bud1",
            "notes.txt": b"my shapes",
            "square/labels.csv": b"a,b\n1,2\n",
        }
    )
    data = read_image_zip(make_zip(files), "shapes.zip")
    assert np.array_equal(data.images, shapes.images)
    notes = " | ".join(data.notes)
    assert "ignored 2 hidden or macOS system entries" in notes
    assert "skipped 2 files that are not images" in notes
    assert "notes.txt" in notes and "square/labels.csv" in notes


def test_damaged_images_are_skipped_and_counted(shapes):
    files = shape_files()
    truncated = files["circle/0.png"][:60]
    files.update({"circle/broken.png": truncated, "square/text.jpg": b"not a picture at all"})
    data = read_image_zip(make_zip(files), "shapes.zip")
    assert len(data.labels) == len(shapes.labels)
    note = next(n for n in data.notes if "damaged" in n)
    assert note.startswith("skipped 2 damaged files") and "circle/broken.png" in note
    assert "square/text.jpg" in note


def test_transparent_parts_become_white_paper():
    drawing = Image.new("RGBA", (32, 32), (0, 0, 0, 0))  # transparent black
    ImageDraw.Draw(drawing).ellipse((8, 8, 24, 24), fill=(0, 0, 0, 255))
    files = {f"{c}/{i}.png": encoded(drawing) for c in ("a", "b") for i in range(2)}
    data = read_image_zip(make_zip(files), "drawings.zip")
    assert (data.images[:, 0, 0] == 255).all()  # the corner: paper, not black
    assert (data.images[:, 32, 32] == 0).all()  # the centre: the ink


def test_ink_is_high_whichever_way_the_image_is_drawn(shapes):
    """Dark on light (a pen on paper) and light on dark give the same digits to the net."""
    ink = cnn_data.user_ink(shapes.images)
    inverted = cnn_data.user_ink(255 - shapes.images)
    assert np.allclose(ink, inverted, atol=1e-3)
    assert ink.shape == (len(shapes.labels), 8, 8)
    assert ink.min() == 0.0 and np.allclose(ink.max((1, 2)), 16.0)
    blank = np.full((2, images.IMAGE_SIZE, images.IMAGE_SIZE, 3), 200, dtype=np.uint8)
    assert (cnn_data.user_ink(blank) == 0).all()  # paper with nothing on it: no ink at all


# ----------------------------------------------------------------------------- through the CNN
def test_every_strategy_runs_on_the_images_and_repeats_with_the_seed(shapes):
    result = tl_core.run("cnn", data=shapes, seed=1, **QUICK)
    names = result.names()
    assert names == [s for s in cnn.STRATEGIES if s != "source_only"]  # new classes: new head
    for s in result.strategies:
        assert 0.0 <= s.target_metric <= 1.0 and 0.0 <= s.source_metric <= 1.0
        assert np.asarray(s.extras["confusion_matrix"]).shape == (3, 3)
    assert result.extras["target_classes"] == list(SHAPES)
    assert result.extras["source_classes"] == list(range(10))  # printed digits, the default source
    assert result.extras["user_data"] == shapes.summary()
    assert result.extras["n_target_train"] == 3 * QUICK["n_target"]
    assert result.extras["n_target_test"] == 3 * (PER_CLASS - QUICK["n_target"])
    assert result.config == cnn.Config(seed=1, **QUICK).to_dict()
    again = cnn.run(cnn.Config(seed=1, **QUICK), data=shapes)
    assert [s.target_metric for s in again.strategies] == [s.target_metric for s in result.strategies]
    assert [s.history for s in again.strategies] == [s.history for s in result.strategies]
    other = cnn.run(cnn.Config(seed=2, **QUICK), data=shapes)
    assert [s.history for s in other.strategies] != [s.history for s in result.strategies]


def test_a_sweep_over_seeds_runs_batched_on_the_images(shapes):
    table = tl_core.sweep(
        "cnn",
        over="n_target",
        values=[1, 3],
        seeds=2,
        data=shapes,
        **{k: v for k, v in QUICK.items() if k != "n_target"},
        strategies=("fine_tune",),
    )
    assert set(table["n_target"]) == {1, 3} and set(table["strategy"]) == {"scratch", "fine_tune"}
    assert table["target_metric"].between(0, 1).all()


def test_the_seed_picks_the_labelled_images_and_the_rest_are_tested(shapes):
    labelled, tested = cnn_data.user_split(shapes.labels, shapes.class_names, 3, seed=4)
    assert sorted(np.concatenate([labelled, tested])) == list(range(len(shapes.labels)))
    assert np.bincount(shapes.labels[labelled]).tolist() == [3, 3, 3]
    more, _ = cnn_data.user_split(shapes.labels, shapes.class_names, 5, seed=4)
    assert set(labelled) <= set(more)  # more labels add images, they do not redraw them
    other, _ = cnn_data.user_split(shapes.labels, shapes.class_names, 3, seed=5)
    assert set(other) != set(labelled)


def test_gap_changes_nothing_with_the_users_images(shapes):
    assert cnn.IGNORED_WITH_USER_DATA == ("gap",) and cnn.USER_DATA == "images"
    config = cnn.Config(strategies=("fine_tune",), **QUICK)
    expected = [s.target_metric for s in cnn.run(config, data=shapes).strategies]
    changed = cnn.run(config.replace(gap=1.0), data=shapes)
    assert [s.target_metric for s in changed.strategies] == expected


def test_a_class_too_small_for_n_target_is_refused_before_training(shapes):
    files = shape_files()
    for i in range(3, PER_CLASS):
        del files[f"square/{i}.{'jpg' if i % 3 == 2 else 'png'}"]
    few = read_image_zip(make_zip(files), "few.zip")
    assert cnn.max_n_target(few) == 2
    with pytest.raises(
        UserDataError,
        match=r"n_target = 3 per class needs at least 4 images of "
        r"class 'square' \(3 labelled \+ 1 to test\); it has 3",
    ):
        cnn.run(cnn.Config(n_target=3), data=few, progress=lambda *_: pytest.fail("trained"))
    single = {**shape_files(per_class=2), "square/1.png": b"damaged"}
    lonely = read_image_zip(make_zip(single), "lonely.zip")
    assert cnn.max_n_target(lonely) == 0
    with pytest.raises(UserDataError, match="every class needs 2 images or more"):
        cnn.run(cnn.Config(n_target=1), data=lonely)


def test_target_weights_of_the_users_task(shapes):
    from safetensors.torch import load

    config = cnn.Config(seed=1, **QUICK)
    with pytest.raises(ValueError, match="with your images"):
        cnn.target_weights(config, "source_only", data=shapes)
    weights = load(cnn.target_weights(config, "fine_tune", data=shapes))
    assert weights["head.weight"].shape == (3, cnn.N_HIDDEN)
    model = cnn.SmallCNN(3)
    model.load_state_dict(weights)
    target = cnn.target_domain(config, shapes)
    with torch.no_grad():
        accuracy = (model(target.x_test).argmax(1) == target.y_test).float().mean().item()
    run = cnn.run(config, data=shapes)
    assert accuracy == pytest.approx(run.strategy("fine_tune").target_metric, abs=1e-6)


def test_figures_show_the_users_images_and_class_names(shapes):
    fig = cnn.samples_figure(cnn.Config(), data=shapes)
    kinds = [(t.type, t.name) for t in fig.data]
    assert kinds.count(("heatmap", "source")) == 10
    assert kinds.count(("image", "your image")) == kinds.count(("heatmap", "target")) == 10
    assert "your images" in fig.layout.title.text and "3 classes" in fig.layout.title.text
    titles = {a.text for a in fig.layout.annotations}
    assert set(SHAPES) <= titles
    result = cnn.run(cnn.Config(seed=1, **QUICK), data=shapes)
    chosen = result.strategy("feature_extraction")
    wrong = chosen.extras["misclassified"]
    assert wrong  # 5 epochs on 2 shapes per class: some test images are wrong
    model = cnn.model_figure(result, "feature_extraction", data=shapes)
    photos = [t for t in model.data if t.name == "misclassified"]
    assert len(photos) == len(wrong) and all(t.type == "image" for t in photos)
    _, tested = cnn_data.user_split(shapes.labels, shapes.class_names, QUICK["n_target"], 1)
    assert np.array_equal(np.asarray(photos[0].z), shapes.images[tested[wrong[0]["index"]]])
    titles = {a.text for a in model.layout.annotations}
    assert f"{SHAPES[wrong[0]['true']]}<br>→{SHAPES[wrong[0]['predicted']]}" in titles
    without = cnn.model_figure(result, "feature_extraction")  # the result alone: the 8x8 input
    assert {t.type for t in without.data if t.name == "misclassified"} == {"heatmap"}
    confusion = cnn.confusion_figure(result, "scratch", data=shapes)
    assert list(confusion.data[0].x) == list(SHAPES) and "your test images" in confusion.layout.title.text


def test_imagenet_features_read_the_users_images_in_colour(shapes, tmp_path):
    from torchvision.models import resnet18

    path = tmp_path / "resnet18.pth"
    torch.save(resnet18(weights=None).state_dict(), path)  # random weights: the plumbing only
    small = read_image_zip(make_zip(shape_files(per_class=3)), "small.zip")
    probe = cnn.imagenet_feature_extraction(cnn.Config(n_target=1), weights=str(path), data=small)
    assert 0.0 <= probe["target_accuracy"] <= 1.0 and probe["n_target_test"] == 3 * 2


# ----------------------------------------------------------------------------- refused files
def test_not_a_zip_and_empty_files():
    refused(b"class,image\ncat,1.png\n", "notes.csv is not a zip file", "class folders", name="notes.csv")
    refused(b"", "is empty")
    refused(make_zip({}), "no files")
    refused(make_zip({"cats/": b"", "dogs/": b""}), "no files")
    refused(encoded(Image.new("RGB", (8, 8))), "not a zip")


def test_unknown_options_are_refused(shapes_zip):
    with pytest.raises(UserDataError, match="takes no options"):
        read_image_zip(shapes_zip, "shapes.zip", size=32)


def test_fewer_than_two_classes_or_an_empty_class_are_refused():
    files = shape_files()
    only_circles = {k: v for k, v in files.items() if k.startswith("circle/")}
    refused(make_zip(only_circles), "only 1 class ('circle')", "at least 2 class folders")
    refused(make_zip({k.split("/")[1]: v for k, v in only_circles.items()}), "no class folders")
    refused(
        make_zip({**files, "dogs/": b""}),
        "class folder 'dogs' has no images",
        "circle: 8",
        "dogs: 0",
        "at least 1 image",
    )
    refused(make_zip({**files, "dogs/readme.txt": b"todo"}), "'dogs' has no images")
    damaged = {
        **{k: v for k, v in files.items() if not k.startswith("square/")},
        "square/0.png": b"garbage",
        "square/1.png": b"more garbage",
    }
    refused(make_zip(damaged), "'square' has no images that can be read", "square: 0")


@pytest.mark.parametrize(
    "path",
    [
        "../evil.png",
        "circle/../../evil.png",
        "/tmp/evil.png",
        "\\evil.png",
        "C:/evil.png",
        "circle\\..\\..\\evil.png",
    ],
)
def test_a_path_leaving_the_folder_is_refused(path, own_temp_folder):
    absolute = Path("/tmp/evil.png")
    assert not absolute.exists()
    raw = make_zip({**shape_files(per_class=2), path: encoded(Image.new("RGB", (8, 8)))})
    refused(raw, "leaves its folder", "no '..', no absolute paths, no links")
    assert not any(own_temp_folder.parent.rglob("evil.png")) and not absolute.exists()


def test_a_link_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, content in shape_files(per_class=2).items():
            archive.writestr(path, content)
        link = zipfile.ZipInfo("circle/passwd.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    refused(buffer.getvalue(), "leaves its folder", "no links")


def set_in_headers(raw: bytes, local_offset: int, central_offset: int, fmt: str, value) -> bytes:
    """Overwrite one field of every local and central header of a zip."""
    out = bytearray(raw)
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        at = out.find(signature)
        while at >= 0:
            struct.pack_into(fmt, out, at + offset, value)
            at = out.find(signature, at + 4)
    return bytes(out)


def test_a_password_protected_zip_is_refused():
    raw = make_zip({"a/1.png": b"x" * 10, "b/1.png": b"y" * 10})
    refused(set_in_headers(raw, 6, 8, "<H", 0x1), "password-protected")


def test_a_compression_method_that_cannot_be_read_is_refused():
    raw = make_zip({"a/1.png": b"x" * 10, "b/1.png": b"y" * 10}, zipfile.ZIP_STORED)
    refused(set_in_headers(raw, 8, 10, "<H", 9), "compression method")  # 9: deflate64


def test_zip_bombs_are_refused_before_unpacking(monkeypatch, own_temp_folder):
    with_limits(monkeypatch, max_upload_mb=1)  # up to 5 MB may be unpacked
    files = shape_files(per_class=2)
    refused(
        make_zip({**files, "circle/huge.bmp": bytes(6 * 2**20)}),
        "would unpack to 6",
        "at most 5.0 MB",
        "zip bomb",
    )
    refused(make_zip({**files, "circle/flat.bmp": bytes(2 * 2**20)}), "compressed", "to 1", "zip bomb")
    assert not os.listdir(own_temp_folder)


def test_a_header_that_understates_a_size_does_not_get_past_the_cap(monkeypatch, own_temp_folder):
    with_limits(monkeypatch, max_upload_mb=1)
    raw = make_zip({**shape_files(per_class=2), "circle/huge.bmp": bytes(8 * 2**20)})
    lying = set_in_headers(raw, 22, 24, "<I", 1000)  # every entry claims 1000 bytes unpacked
    refused(lying, "cannot be unpacked")
    assert not os.listdir(own_temp_folder)


def test_unpacking_stops_at_the_cap_whatever_the_headers_say():
    target = io.BytesIO()
    with pytest.raises(UserDataError, match="more than its headers declare"):
        image_zip.copy_capped(io.BytesIO(bytes(3 * image_zip.CHUNK)), target, budget=image_zip.CHUNK + 1)
    assert len(target.getvalue()) <= image_zip.CHUNK + 1
    assert image_zip.copy_capped(io.BytesIO(b"12345"), io.BytesIO(), budget=5) == 5


def test_too_many_files_or_bytes_are_refused(monkeypatch, shapes_zip):
    with_limits(monkeypatch, max_upload_images=5)
    refused(shapes_zip, "has 24 images; at most 5 are allowed")
    most = image_zip.max_entries()
    clutter = {f"notes/{i}.txt": b"" for i in range(most + 1)}
    refused(make_zip(clutter), f"{most + 1} files and folders", f"at most {most}")
    with_limits(monkeypatch, max_upload_images=5000, max_upload_mb=1)
    noise = np.random.default_rng(0).integers(0, 255, 2 * 2**20, dtype=np.uint8).tobytes()
    refused(make_zip({"a/1.bmp": noise}, zipfile.ZIP_STORED), "2.0 MB", "at most 1 MB")


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (its pixel data is never read)."""
    raw = bytearray(encoded(Image.new("L", (4, 4))))
    struct.pack_into(">II", raw, 16, width, height)
    struct.pack_into(">I", raw, 29, zlib.crc32(bytes(raw[12:29])))
    return bytes(raw)


def test_an_image_over_the_pixel_cap_is_refused_from_its_header():
    files = shape_files(per_class=2)
    refused(
        make_zip({**files, "circle/poster.png": png_claiming(5000, 4000)}),
        "'circle/poster.png' is 5000x4000 pixels (20.0 megapixels)",
        "at most 16.8 megapixels",
    )
    # Where Pillow only warns of a decompression bomb (89 to 179 megapixels), the header's size
    # refuses it; past that, Pillow refuses first, and the message is of the same kind.
    with pytest.warns(Image.DecompressionBombWarning):
        refused(
            make_zip({**files, "circle/mural.png": png_claiming(10000, 10000)}),
            "'circle/mural.png' is 10000x10000 pixels (100.0 megapixels)",
        )
    refused(
        make_zip({**files, "circle/bomb.png": png_claiming(30000, 30000)}),
        "'circle/bomb.png' is far too large",
        "megapixels per image",
    )


def test_too_many_pixels_in_all_are_refused(monkeypatch, shapes_zip):
    monkeypatch.setattr(images, "MAX_TOTAL_PIXELS", 10 * 48 * 48)
    refused(shapes_zip, "megapixels in all")


def test_the_temporary_folder_is_removed_after_success_and_failure(shapes_zip, own_temp_folder):
    read_image_zip(shapes_zip, "shapes.zip")
    assert not os.listdir(own_temp_folder)
    refused(make_zip({"circle/1.png": encoded(Image.new("RGB", (8, 8)))}), "only 1 class")
    assert not os.listdir(own_temp_folder)


def test_any_bytes_give_images_or_a_user_data_error(shapes_zip, own_temp_folder):
    """Random bytes, every kind of truncation and random damage inside a real zip."""
    rng = np.random.default_rng(6)
    small = make_zip(shape_files(per_class=1) | {"square/1.png": encoded(Image.new("RGB", (8, 8)))})
    cases = [rng.bytes(int(n)) for n in rng.integers(0, 3000, 40)]
    cases += [b"PK\x05\x06" + rng.bytes(18), b"PK\x03\x04" + rng.bytes(200)]
    cases += [small[: int(n)] for n in rng.integers(0, len(small), 40)]
    for _ in range(150):
        damaged = bytearray(small)
        for at in rng.integers(0, len(small), int(rng.integers(1, 6))):
            damaged[at] = int(rng.integers(256))
        cases.append(bytes(damaged))
    accepted = 0
    for raw in cases:
        try:
            data = read_image_zip(raw, "fuzz.zip")
        except UserDataError as error:
            assert "fuzz.zip" in str(error) or "n_target" in str(error)
        else:
            accepted += 1
            assert len(data.class_names) >= 2 and data.images.dtype == np.uint8
    assert accepted < len(cases)
    assert not os.listdir(own_temp_folder)
