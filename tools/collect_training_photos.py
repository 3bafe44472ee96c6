"""Build a folder of natural photographs (train/val) for training the learned image codec.

Sources are Debian bookworm packages fetched with ``apt-get download`` (cached under
``~/.cache/wavelayers/debs``, unpacked with ``dpkg -x``) and PyPI wheels fetched with
``pip download --no-deps`` (cached under ``~/.cache/wavelayers/wheels``, unpacked with zipfile).
Only the photographs named in ``ALLOWLIST`` (curated by eye: camera pictures of real scenes, no
renders, vector art, paintings, gradients or edited composites) are kept.  Each photo is converted
to RGB, downscaled so its short side is at most ``--short-side`` pixels (integer box reduction with
``Image.reduce`` first, then LANCZOS to the exact size), and stored as lossless WebP.  The split is
made per collection ``group`` (group 1: the 37 photos of the first collection, whose split the
shipped weights were trained with; group 2: the photos added later), so adding photos never moves
an old one between train and val: about 10% (at least 3) of each group go to ``val/``, chosen by
the SHA-256 of the file name.  ``PROVENANCE.md`` and ``provenance.json`` record source, author and
licence.  A photo that is a near-duplicate of an evaluation photo (the photos that scikit-image
ships, :mod:`integrations.compression.datasets`; compared as 32x32 grey thumbnails) stops the build.

Usage::

    .venv/bin/python tools/collect_training_photos.py --out data/photos [--short-side 768] [--force]

None of these photos is one of the scikit-image evaluation images (integrations/compression/datasets.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = None  # sources are trusted Debian packages with up to 6028x3391 pixels

CACHE_DIR = Path.home() / ".cache" / "wavelayers" / "debs"
WHEEL_CACHE_DIR = Path.home() / ".cache" / "wavelayers" / "wheels"
SIZE_BUDGET_BYTES = 64 * 1024 * 1024
SHORT_SIDE_STEP = 64
MIN_SHORT_SIDE = 256
VAL_FRACTION = 0.10
MIN_VAL = 3
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")

PLASMA_DEB_LICENSE = "GPL-2+ (debian/copyright, Files: *)"
LOMIRI_BG = "usr/share/backgrounds"
MATE_BG = "usr/share/backgrounds/mate/nature"
OPENCV_EXAMPLES = "usr/share/doc/opencv-doc/examples"
OPENCV_LICENSE = ("Apache-2.0 AND BSD-3-Clause (debian/copyright, Files: *); OpenCV does not record the origin "
                  "of its sample photos")
# Near-duplicate threshold: correlation of the 32x32 grey thumbnails (a resized / re-encoded copy scores > 0.97).
NEAR_DUPLICATE_CORRELATION = 0.9


@dataclasses.dataclass(frozen=True)
class PhotoSource:
    """One curated photograph.

    ``path`` is relative to the unpacked package root; for Plasma wallpapers it is the wallpaper
    directory and the largest image under ``contents/images`` (never ``images_dark``) is used.
    ``origin`` is ``'deb'`` (a Debian package) or ``'pypi'`` (a wheel); ``group`` the collection
    the photo belongs to (the split is drawn per group, see the module docstring).
    """

    package: str
    name: str
    path: str
    author: str
    license: str
    origin: str = "deb"
    group: int = 1


def _plasma(name: str, author: str, license: str) -> PhotoSource:
    return PhotoSource(
        "plasma-workspace-wallpapers", name, f"usr/share/wallpapers/{name}", author,
        f"{license} (metadata.json); package {PLASMA_DEB_LICENSE}",
    )


def _lomiri(package: str, file: str, author: str, license: str) -> PhotoSource:
    return PhotoSource(package, file.split("_by_")[0], f"{LOMIRI_BG}/{file}", author, license)


def _mate(file: str, author: str) -> PhotoSource:
    return PhotoSource("mate-backgrounds", Path(file).stem, f"{MATE_BG}/{file}", author, "GPL-2+")


def _opencv(file: str, origin: str = "OpenCV sample data, author not recorded") -> PhotoSource:
    name = file.replace("/", "-").rsplit(".", 1)[0]
    return PhotoSource("opencv-doc", name, f"{OPENCV_EXAMPLES}/{file}", origin, OPENCV_LICENSE, group=2)


def _wheel(package: str, path: str, author: str, license: str) -> PhotoSource:
    return PhotoSource(package, Path(path).stem, path, author, license, origin="pypi", group=2)


# Curated by looking at 216 px contact sheets of every image in the packages below.  Rejected as
# not photographs (renders, vector art, gradients, paintings, composites): all of gnome-backgrounds
# 43.1, ukui-wallpapers, lomiri-wallpapers, sway-backgrounds; Plasma Altai, Autumn, Canopee,
# Cascade, Cluster, Elarun, Flow, FlyingKonqui, Honeywave, IceCold, Kay, Kokkini, MilkyWay, Opal,
# PastelHills, Patak, SafeLanding, Shell, Volna; Lomiri umang, analogpattern, Fossa, Infinite-Sea,
# Painting-Colors; MATE abstract/* and desktop/*.
ALLOWLIST: tuple[PhotoSource, ...] = (
    _plasma("BytheWater", "Maciej Wiklo", "LGPLv3"),
    _plasma("ColdRipple", "Risto Saukonpää", "LGPLv3"),
    _plasma("ColorfulCups", "Dmitri Popov", "LGPLv3"),
    _plasma("DarkestHour", "Risto Saukonpää", "LGPLv3"),
    _plasma("EveningGlow", "Ian Hex", "LGPLv3"),
    _plasma("FallenLeaf", "Martin Klapetek", "LGPLv3"),
    _plasma("Grey", "Sigi Sagi", "LGPLv3"),
    _plasma("Kite", "Risto Saukonpää", "LGPLv3"),
    _plasma("OneStandsOut", "Risto Saukonpää", "LGPLv3"),
    _plasma("Path", "Risto Saukonpää", "LGPLv3"),
    _plasma("summer_1am", "Risto Saukonpää", "LGPLv3"),
    _lomiri("lomiri-wallpapers-16.04", "aitzgorri_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    _lomiri("lomiri-wallpapers-16.04", "Bridge_by_Sander_Klootwijk.jpg", "Sander Klootwijk", "CC-BY-SA-4.0"),
    _lomiri("lomiri-wallpapers-16.04", "Dragonfly_by_Bolly.jpg", "Bolly", "CC-BY-SA-4.0"),
    _lomiri("lomiri-wallpapers-16.04", "free_by_Peter_Nerlich.jpg", "Peter Nerlich", "CC-BY-SA-4.0"),
    _lomiri("lomiri-wallpapers-16.04", "friends_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    _lomiri("lomiri-wallpapers-16.04", "greentock_by_Peter_Nerlich.jpg", "Peter Nerlich", "CC-BY-SA-4.0"),
    _lomiri("lomiri-wallpapers-16.04", "life_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    _lomiri("lomiri-wallpapers-16.04", "picosdeeuropa_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    _lomiri("lomiri-wallpapers-16.04", "Picture_0B_by_freespace.jpg", "Trevor \"Freespace\"", "CC-BY-4.0"),
    _lomiri("lomiri-wallpapers-16.04", "Picture_1A_by_freespace.jpg", "Trevor \"Freespace\"", "CC-BY-4.0"),
    _lomiri("lomiri-wallpapers-16.04", "seeding_by_Clements_Engelhardt.jpg", "Clemens Engelhardt", "CC0-1.0"),
    _lomiri("lomiri-wallpapers-16.04", "sunset_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    _lomiri("lomiri-wallpapers-16.04", "Wine_by_Jakkub_Mede.jpg", "Jakub Mede", "CC-BY-4.0"),
    _lomiri("lomiri-wallpapers-20.04", "Kleiber_by_Lukas_Baubkus.jpg", "Lukas Baubkus", "CC-BY-SA-3.0"),
    _mate("Aqua.jpg", "Charles Barbin"),
    _mate("Blinds.jpg", "Lennart Poettering, Andrea Cimitan"),
    _mate("Dune.jpg", "Marco Cogoni, Hylke Bons"),
    _mate("FreshFlower.jpg", "Jens Ansorg"),
    _mate("Garden.jpg", "Charles Barbin"),
    _mate("GreenMeadow.jpg", "Timothy Schellhase, Lapo Calamandrei"),
    _mate("LadyBird.jpg", "Charles Barbin"),
    _mate("RainDrops.jpg", "blackcombwhistler07"),
    _mate("Storm.jpg", "Sergey Nazarov"),
    _mate("TwoWings.jpg", "Charles Barbin, Hylke Bons"),
    _mate("Wood.jpg", "Jean-François Fortin Tam"),
    _mate("YellowFlower.jpg", "Charles Barbin"),
    # Group 2 (added for issue 16).  Curated from contact sheets of every image of at least 256x256 in
    # opencv-doc 4.6.0 (examples/), visp-images-data 3.5.0, desktop-base 12.0.6, xfdesktop4-data
    # 4.18.1, eterm 0.9.6 and the wheels below.  Rejected: desktop-base, xfdesktop4-data and eterm
    # (renders, logos); visp-images-data (grey lab sequences of targets and cubes, the Klimt painting,
    # the grey 1927 Solvay photograph); in opencv-doc the grey stereo-calibration chessboards,
    # Blender_Suzanne (render), starry_night (painting), pic1-6, cards, ml, smarties, gradient
    # (synthetic), chicky_512 (partly transparent composite), messi5 (press photo), the artificially
    # blurred text_defocus / text_motion / licenseplate_motion, ela_modified (edited copy of
    # ela_original) and the second views of pairs (aero3, aloeR, graf3, leuvenB, right,
    # rubberwhale2); mahotas' DepartmentStore (an illustration) and lena.
    _opencv("data/aero1.jpg"),
    _opencv("data/aloeL.jpg", "Middlebury 2006 stereo data set (Hirschmueller, Scharstein), left view"),
    _opencv("data/apple.jpg"),
    _opencv("data/baboon.jpg", "the USC-SIPI 'mandrill' test image"),
    _opencv("data/board.jpg"),
    _opencv("data/building.jpg"),
    _opencv("data/butterfly.jpg"),
    _opencv("data/ela_original.jpg"),
    _opencv("data/fruits.jpg"),
    _opencv("data/graf1.png", "Oxford affine-covariant regions data set (Mikolajczyk et al.), 'graf' 1"),
    _opencv("data/home.jpg"),
    _opencv("data/left.jpg"),
    _opencv("data/leuvenA.jpg", "Oxford affine-covariant regions data set (Mikolajczyk et al.), 'leuven' 1"),
    _opencv("data/orange.jpg"),
    _opencv("data/rubberwhale1.png", "Middlebury optical-flow data set (Baker et al.), RubberWhale frame 10"),
    _opencv("data/squirrel_cls.jpg"),
    _opencv("data/stuff.jpg"),
    _opencv("data/sudoku.png"),
    _opencv("alphamat/input_images/plant.jpg"),
    _opencv("dnn_superres/butterfly.png"),
    *(_opencv(f"text/scenetext0{i}.jpg") for i in range(1, 7)),
    _wheel("scikit-learn", "sklearn/datasets/images/china.jpg", "danielbuechele (Flickr)",
           "CC-BY-2.0 (sklearn/datasets/images/README.txt)"),
    _wheel("scikit-learn", "sklearn/datasets/images/flower.jpg", "vultilion (Flickr)",
           "CC-BY-2.0 (sklearn/datasets/images/README.txt)"),
    _wheel("matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg", "U.S. Navy (official portrait)",
           "public domain (work of the U.S. federal government); package PSF-style matplotlib licence"),
    _wheel("mahotas", "mahotas/demos/data/luispedro.jpg", "Luis Pedro Coelho (mahotas' author)",
           "MIT (the mahotas package)"),
)


# ---------------------------------------------------------------- pure helpers (unit-tested)

def downscale_to_short_side(image: Image.Image, short_side: int) -> tuple[Image.Image, float]:
    """Convert to RGB and shrink so min(W, H) <= ``short_side``; never upscales.

    An integer box reduction (``Image.reduce``) does most of the work, LANCZOS the rest.
    Returns (image, factor) where factor = original short side / stored short side (1.0 if unchanged).
    """
    if not isinstance(short_side, int) or short_side < 1:
        raise ValueError(f"short_side must be a positive int, got {short_side!r}")
    rgb = image.convert("RGB")
    width, height = rgb.size
    short = min(width, height)
    if short <= short_side:
        return rgb, 1.0
    box = short // short_side
    if box >= 2:
        rgb = rgb.reduce(box)
    scale = short_side / min(rgb.size)
    if scale < 1.0:
        new_size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(new_size, Image.LANCZOS)
    return rgb, short / min(rgb.size)


def save_lossless_webp(image: Image.Image, path: Path) -> int:
    """Write ``image`` as lossless WebP; return the file size in bytes."""
    image.save(path, "WEBP", lossless=True, quality=100, method=4)
    return path.stat().st_size


def thumbnail_signature(image: Image.Image | np.ndarray) -> np.ndarray:
    """The whole image as a 32x32 grey thumbnail, zero-mean and unit-norm (1024 floats), for
    :func:`near_duplicates`; insensitive to resizing, re-encoding and small colour changes."""
    pil = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    grey = np.asarray(pil.convert("L").resize((32, 32), Image.BILINEAR), dtype=np.float64).ravel()
    grey -= grey.mean()
    norm = np.linalg.norm(grey)
    return grey / norm if norm > 0 else grey


def near_duplicates(
    candidates: dict[str, np.ndarray], references: dict[str, np.ndarray],
    threshold: float = NEAR_DUPLICATE_CORRELATION,
) -> list[tuple[str, str, float]]:
    """``(candidate, reference, correlation)`` for every pair of signatures
    (:func:`thumbnail_signature`) correlated above ``threshold``."""
    return [(c, r, float(sc @ sr)) for c, sc in candidates.items() for r, sr in references.items()
            if float(sc @ sr) > threshold]


def evaluation_signatures() -> dict[str, np.ndarray]:
    """Signatures of the evaluation photos (the photos that scikit-image ships)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from integrations.compression.datasets import bundled_photos

    return {name: thumbnail_signature(image) for name, image in bundled_photos()}


def split_names(names: list[str], val_fraction: float = VAL_FRACTION, min_val: int = MIN_VAL) -> tuple[list[str], list[str]]:
    """Deterministic (train, val) split: the names with the smallest SHA-256 go to val.

    val gets max(min_val, round(val_fraction * n)) names, capped at n - 1 so train is never empty.
    """
    if len(set(names)) != len(names):
        raise ValueError("names must be unique")
    if len(names) < 2:
        raise ValueError(f"need at least 2 names to split, got {len(names)}")
    n_val = min(len(names) - 1, max(min_val, round(val_fraction * len(names))))
    by_hash = sorted(names, key=lambda name: hashlib.sha256(name.encode()).hexdigest())
    val = sorted(by_hash[:n_val])
    train = sorted(by_hash[n_val:])
    return train, val


def split_groups(groups: dict[str, int]) -> tuple[list[str], list[str]]:
    """:func:`split_names` within each group of ``{name: group}``; the union of the splits."""
    train: list[str] = []
    val: list[str] = []
    for group in sorted(set(groups.values())):
        t, v = split_names([n for n, g in groups.items() if g == group])
        train += t
        val += v
    return sorted(train), sorted(val)


def output_name(package: str, name: str) -> str:
    """File name ``<package>__<name>.webp``."""
    return f"{package}__{name}.webp"


def check_output_dir(out: Path, force: bool) -> None:
    """Refuse an existing non-empty ``out`` unless ``force``."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a directory, got a file: {out}")
    if out.exists() and any(out.iterdir()) and not force:
        raise ValueError(f"{out} exists and is not empty; pass --force to replace it")


def provenance_markdown(records: list[dict], short_side: int) -> str:
    """Render the provenance table (one row per stored photo)."""
    lines = [
        "# Training photographs: provenance",
        "",
        "Built by `tools/collect_training_photos.py` from Debian bookworm packages and PyPI wheels. Each photo was converted to",
        f"RGB and downscaled (integer `Image.reduce`, then LANCZOS) to a short side of at most {short_side} px;",
        "'factor' is original short side / stored short side. Stored as lossless WebP. Licences as declared by",
        "the packages (debian/copyright, Plasma metadata.json, the wheels' own notes); attribution is required",
        "for CC-BY / CC-BY-SA. Group 1 is the first collection, group 2 the photos added for issue 16; the",
        "train / val split is drawn within each group.",
        "",
        "| split | group | file | package (version) | original path | author | licence | original size | stored size | factor |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['split']} | {r.get('group', 1)} | {r['file']} | {r['package']} ({r['version']}) | {r['original_path']} | {r['author']} "
            f"| {r['license']} | {r['original_size'][0]}x{r['original_size'][1]} "
            f"| {r['stored_size'][0]}x{r['stored_size'][1]} | {r['factor']:.3f} |"
        )
    total = sum(r["bytes"] for r in records)
    pixels = {split: sum(r["stored_size"][0] * r["stored_size"][1] for r in records if r["split"] == split)
              for split in ("train", "val")}
    counts = {split: sum(r["split"] == split for r in records) for split in ("train", "val")}
    lines += ["", f"{len(records)} photos ({counts['train']} train, {pixels['train'] / 1e6:.2f} megapixels; "
              f"{counts['val']} val, {pixels['val'] / 1e6:.2f} megapixels), {total / 2**20:.2f} MiB of WebP."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- Debian packages (needs apt)

def fetch_deb(package: str, cache_dir: Path = CACHE_DIR) -> Path:
    """Return the cached .deb of ``package``, downloading it with ``apt-get download`` if absent."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = sorted(cache_dir.glob(f"{package}_*.deb"))
    if not cached:
        subprocess.run(["apt-get", "download", package], cwd=cache_dir, check=True)
        cached = sorted(cache_dir.glob(f"{package}_*.deb"))
    if not cached:
        raise RuntimeError(f"apt-get download {package} produced no .deb in {cache_dir}")
    return cached[-1]


def unpack_deb(deb: Path, dest: Path) -> str:
    """Extract ``deb`` into ``dest`` with ``dpkg -x``; return the package version."""
    subprocess.run(["dpkg", "-x", str(deb), str(dest)], check=True)
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True
    ).stdout.strip()


def fetch_wheel(package: str, cache_dir: Path = WHEEL_CACHE_DIR) -> Path:
    """Return the cached wheel of ``package``, downloading it with ``pip download --no-deps`` if absent."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = package.replace("-", "_")
    cached = sorted(cache_dir.glob(f"{stem}-*.whl"))
    if not cached:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", package, "-d", str(cache_dir)],
                       check=True)
        cached = sorted(cache_dir.glob(f"{stem}-*.whl"))
    if not cached:
        raise RuntimeError(f"pip download {package} produced no wheel in {cache_dir}")
    return cached[-1]


def unpack_wheel(wheel: Path, dest: Path, members: list[str]) -> str:
    """Extract ``members`` of ``wheel`` into ``dest``; return the version from the wheel's file name."""
    with zipfile.ZipFile(wheel) as archive:
        for member in members:
            archive.extract(member, dest)
    return wheel.name.split("-")[1]


def resolve_source_file(root: Path, source: PhotoSource) -> Path:
    """The image file of ``source`` inside an unpacked package (largest for Plasma wallpapers)."""
    path = root / source.path
    if path.is_file():
        return path
    images = [p for p in (path / "contents" / "images").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise FileNotFoundError(f"no image for {source.package}:{source.name} under {path}")

    def pixels(p: Path) -> int:
        with Image.open(p) as im:
            return im.width * im.height

    return max(images, key=pixels)


# ---------------------------------------------------------------- pipeline

def write_photos(sources: list[tuple[PhotoSource, str, Path, Path]], out: Path, short_side: int) -> list[dict]:
    """Process ``(source, version, package root, file)`` tuples into ``out/train`` and ``out/val``; return records."""
    names = [output_name(s.package, s.name) for s, _, _, _ in sources]
    train, val = split_groups({n: s.group for n, (s, _, _, _) in zip(names, sources)})
    split_of = {**{n: "train" for n in train}, **{n: "val" for n in val}}
    for split in ("train", "val"):
        (out / split).mkdir(parents=True, exist_ok=True)
    records = []
    for (source, version, root, file), name in zip(sources, names):
        with Image.open(file) as original:
            original_size = original.size
            image, factor = downscale_to_short_side(original, short_side)
        split = split_of[name]
        n_bytes = save_lossless_webp(image, out / split / name)
        records.append({
            "split": split, "group": source.group, "file": f"{split}/{name}", "package": source.package,
            "origin": source.origin, "version": version,
            "original_path": "/" + file.relative_to(root).as_posix(),
            "author": source.author, "license": source.license, "original_size": list(original_size),
            "stored_size": list(image.size), "factor": factor, "bytes": n_bytes,
        })
    return sorted(records, key=lambda r: r["file"])


def check_not_evaluation_photos(sources: list[tuple[PhotoSource, str, Path, Path]]) -> None:
    """Raise ValueError if a source photo is a near-duplicate of an evaluation photo."""
    candidates = {}
    for source, _, _, file in sources:
        with Image.open(file) as image:
            candidates[output_name(source.package, source.name)] = thumbnail_signature(image)
    clashes = near_duplicates(candidates, evaluation_signatures())
    if clashes:
        raise ValueError(f"near-duplicates of evaluation photos (candidate, evaluation photo, correlation): {clashes}")


def build(out: Path, short_side: int, force: bool, allowlist: tuple[PhotoSource, ...] = ALLOWLIST) -> list[dict]:
    """Fetch, curate, process and atomically publish the photo folder at ``out``."""
    check_output_dir(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wavelayers-debs-") as unpack_root:
        roots: dict[str, tuple[Path, str]] = {}
        for package in sorted({s.package for s in allowlist if s.origin == "deb"}):
            root = Path(unpack_root) / package
            roots[package] = (root, unpack_deb(fetch_deb(package), root))
        for package in sorted({s.package for s in allowlist if s.origin == "pypi"}):
            root = Path(unpack_root) / package
            members = [s.path for s in allowlist if s.package == package]
            roots[package] = (root, unpack_wheel(fetch_wheel(package), root, members))
        sources = [
            (s, roots[s.package][1], roots[s.package][0], resolve_source_file(roots[s.package][0], s))
            for s in allowlist
        ]
        check_not_evaluation_photos(sources)
        size = short_side
        while True:
            staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
            records = write_photos(sources, staging, size)
            total = sum(r["bytes"] for r in records)
            if total <= SIZE_BUDGET_BYTES:
                break
            shutil.rmtree(staging)
            if size - SHORT_SIDE_STEP < MIN_SHORT_SIDE:
                raise RuntimeError(f"photos do not fit in {SIZE_BUDGET_BYTES} bytes even at short side {size}")
            print(f"{total / 2**20:.1f} MiB > budget at short side {size}; retrying with {size - SHORT_SIDE_STEP}")
            size -= SHORT_SIDE_STEP
    (staging / "provenance.json").write_text(json.dumps({"short_side": size, "photos": records}, indent=1, ensure_ascii=False) + "\n")
    (staging / "PROVENANCE.md").write_text(provenance_markdown(records, size))
    if out.exists():
        shutil.rmtree(out)
    os.rename(staging, out)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (train/, val/, PROVENANCE.md)")
    parser.add_argument("--short-side", type=int, default=768, help="maximum short side in pixels (default 768)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        records = build(args.out.resolve(), args.short_side, args.force)
    except ValueError as error:
        parser.error(str(error))
    total = sum(r["bytes"] for r in records)
    n_val = sum(r["split"] == "val" for r in records)
    megapixels = sum(r["stored_size"][0] * r["stored_size"][1] for r in records if r["split"] == "train") / 1e6
    print(f"{len(records)} photos ({len(records) - n_val} train with {megapixels:.2f} megapixels, {n_val} val), "
          f"{total / 2**20:.2f} MiB, {time.perf_counter() - start:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
