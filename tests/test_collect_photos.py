"""Offline tests of the pure parts of tools/collect_training_photos.py (no apt, no network)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "collect_training_photos.py"
_spec = importlib.util.spec_from_file_location("collect_training_photos", SCRIPT)
collect = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = collect  # dataclasses need the module registered
_spec.loader.exec_module(collect)


def _noise_image(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    return Image.fromarray(array[..., 0] if channels == 1 else array, mode)


@pytest.mark.parametrize(
    "size, short_side, expected",
    [((400, 300), 100, (134, 100)), ((300, 400), 100, (100, 134)), ((250, 210), 100, (119, 100)),
     ((90, 60), 100, (90, 60)), ((1000, 768), 768, (1000, 768))],
)
def test_short_side_rule(size, short_side, expected):
    image, factor = collect.downscale_to_short_side(_noise_image(*size), short_side)
    assert image.size == expected
    assert image.mode == "RGB"
    assert factor == pytest.approx(min(size) / min(expected))


def test_never_upscales_and_converts_to_rgb():
    image, factor = collect.downscale_to_short_side(_noise_image(40, 30, "RGBA"), 768)
    assert image.size == (40, 30) and image.mode == "RGB" and factor == 1.0
    gray, _ = collect.downscale_to_short_side(_noise_image(40, 30, "L"), 768)
    assert gray.mode == "RGB"


def test_downscale_preserves_mean_colour():
    """A flat colour must survive box reduction + LANCZOS unchanged."""
    flat = Image.new("RGB", (640, 480), (200, 50, 10))
    image, _ = collect.downscale_to_short_side(flat, 100)
    assert (np.asarray(image) == (200, 50, 10)).all()


@pytest.mark.parametrize("bad", [0, -5, 1.5, "768"])
def test_short_side_validation(bad):
    with pytest.raises(ValueError, match="short_side"):
        collect.downscale_to_short_side(_noise_image(8, 8), bad)


def test_lossless_webp_round_trip(tmp_path):
    image = _noise_image(37, 23, seed=3)
    path = tmp_path / "x.webp"
    n_bytes = collect.save_lossless_webp(image, path)
    assert n_bytes == path.stat().st_size > 0
    with Image.open(path) as loaded:
        assert loaded.format == "WEBP"
        np.testing.assert_array_equal(np.asarray(loaded.convert("RGB")), np.asarray(image))


def test_split_is_deterministic_disjoint_and_complete():
    names = [f"pkg__photo{i}.webp" for i in range(37)]
    train, val = collect.split_names(names)
    assert (train, val) == collect.split_names(list(reversed(names)))
    assert not set(train) & set(val)
    assert sorted(train + val) == sorted(names)
    assert len(val) == 4
    assert len(collect.split_names(names[:5])[1]) == 3
    assert len(collect.split_names(names[:2])[1]) == 1


def test_split_rejects_duplicates_and_too_few():
    with pytest.raises(ValueError, match="unique"):
        collect.split_names(["a", "a", "b"])
    with pytest.raises(ValueError, match="at least 2"):
        collect.split_names(["a"])


def test_refuses_to_overwrite(tmp_path):
    out = tmp_path / "photos"
    collect.check_output_dir(out, force=False)  # absent: fine
    out.mkdir()
    collect.check_output_dir(out, force=False)  # empty: fine
    (out / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="--force"):
        collect.check_output_dir(out, force=False)
    collect.check_output_dir(out, force=True)


def test_cli_refuses_non_empty_out_without_touching_it(tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True)
    assert result.returncode != 0 and "--force" in result.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_write_photos_and_provenance(tmp_path):
    root = tmp_path / "pkg"
    sources = []
    for i in range(5):
        file = root / "usr" / f"p{i}.png"
        file.parent.mkdir(parents=True, exist_ok=True)
        _noise_image(60 + i, 50, seed=i).save(file)
        source = collect.PhotoSource("pkg", f"p{i}", f"usr/p{i}.png", "Someone", "CC0-1.0")
        sources.append((source, "1.0-1", root, collect.resolve_source_file(root, source)))
    out = tmp_path / "out"
    records = collect.write_photos(sources, out, short_side=25)
    assert len(records) == 5
    assert sorted(p.name for p in (out / "val").iterdir()) == [r["file"][4:] for r in records if r["split"] == "val"]
    assert len(list((out / "train").iterdir())) == 2 and len(list((out / "val").iterdir())) == 3
    for r in records:
        assert min(r["stored_size"]) == 25
        assert r["original_path"] == f"/usr/{r['file'].split('__')[1][:-5]}.png"
        assert (out / r["file"]).stat().st_size == r["bytes"]
    table = collect.provenance_markdown(records, 25)
    assert table.count("| pkg (1.0-1) |") == 5 and "5 photos" in table


def test_allowlist_names_are_unique_and_licensed():
    names = [collect.output_name(s.package, s.name) for s in collect.ALLOWLIST]
    assert len(names) == len(set(names))
    assert all(s.license and s.author for s in collect.ALLOWLIST)


def _photo(index: int) -> np.ndarray:
    """One of the evaluation photos (scikit-image's), (H, W, 3) uint8."""
    from integrations.compression.datasets import bundled_photos

    return bundled_photos(limit=index + 1)[index][1]


def test_near_duplicate_of_an_evaluation_photo_is_caught(tmp_path):
    """Oracle: a resized, re-encoded, slightly re-coloured copy of an evaluation photo is a near-duplicate;
    another evaluation photo and noise are not."""
    astronaut, coffee = _photo(0), _photo(1)
    copy = Image.fromarray(astronaut).resize((300, 300), Image.LANCZOS)
    copy.save(tmp_path / "copy.jpg", quality=60)
    with Image.open(tmp_path / "copy.jpg") as loaded:
        shifted = np.clip(np.asarray(loaded).astype(int) + 12, 0, 255).astype(np.uint8)
    references = {"astronaut": collect.thumbnail_signature(astronaut)}
    candidates = {"copy": collect.thumbnail_signature(shifted), "coffee": collect.thumbnail_signature(coffee),
                  "noise": collect.thumbnail_signature(_noise_image(200, 150))}
    clashes = collect.near_duplicates(candidates, references)
    assert [(c, r) for c, r, _ in clashes] == [("copy", "astronaut")]
    assert clashes[0][2] > 0.97


def test_signature_is_unit_norm_and_flat_images_are_zero():
    signature = collect.thumbnail_signature(_noise_image(64, 48))
    assert signature.shape == (1024,) and np.linalg.norm(signature) == pytest.approx(1.0)
    assert not collect.thumbnail_signature(Image.new("RGB", (64, 64), (9, 9, 9))).any()


def test_allowlist_is_not_an_evaluation_photo():
    """No curated photo carries an evaluation photo's name (the build also compares the pixels:
    check_not_evaluation_photos)."""
    from integrations.compression.datasets import BUNDLED_PHOTOS

    assert not {s.name for s in collect.ALLOWLIST} & set(BUNDLED_PHOTOS)


def test_group_split_keeps_the_first_collection_where_it_was():
    first = {f"pkg__old{i}.webp": 1 for i in range(37)}
    added = {f"other__new{i}.webp": 2 for i in range(30)}
    train1, val1 = collect.split_groups(first)
    assert (train1, val1) == collect.split_names(list(first))
    train, val = collect.split_groups({**first, **added})
    assert [n for n in val if n in first] == val1 and [n for n in train if n in first] == train1
    assert len([n for n in val if n in added]) == 3
    assert sorted(train + val) == sorted({**first, **added})


def test_allowlist_groups_and_origins():
    assert sum(s.group == 1 for s in collect.ALLOWLIST) == 37  # the split the shipped weights trained with
    assert all(s.group in (1, 2) and s.origin in ("deb", "pypi") for s in collect.ALLOWLIST)
    assert all(s.group == 2 for s in collect.ALLOWLIST if s.origin == "pypi")


def test_unpack_wheel_extracts_members_and_reads_the_version(tmp_path):
    import zipfile

    wheel = tmp_path / "some_pkg-1.2.3-py3-none-any.whl"
    buffer = tmp_path / "p.png"
    _noise_image(20, 10).save(buffer)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(buffer, "some_pkg/data/p.png")
        archive.writestr("some_pkg/other.txt", "x")
    version = collect.unpack_wheel(wheel, tmp_path / "root", ["some_pkg/data/p.png"])
    assert version == "1.2.3"
    assert (tmp_path / "root" / "some_pkg" / "data" / "p.png").is_file()
    assert not (tmp_path / "root" / "some_pkg" / "other.txt").exists()
