"""Build a folder of natural photographs (train/val) for training the learned image codec.

Sources are Debian bookworm wallpaper packages fetched with ``apt-get download`` (cached under
``~/.cache/wavelayers/debs``) and unpacked with ``dpkg -x``.  Only the photographs named in
``ALLOWLIST`` (curated by eye: camera pictures of real scenes, no renders, vector art or gradients)
are kept.  Each photo is converted to RGB, downscaled so its short side is at most ``--short-side``
pixels (integer box reduction with ``Image.reduce`` first, then LANCZOS to the exact size), and
stored as lossless WebP.  About 10% (at least 3) go to ``val/``, chosen by the SHA-256 of the
file name; ``PROVENANCE.md`` and ``provenance.json`` record source, author and licence.

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
from pathlib import Path

from PIL import Image

Image.MAX_IMAGE_PIXELS = None  # sources are trusted Debian packages with up to 6028x3391 pixels

CACHE_DIR = Path.home() / ".cache" / "wavelayers" / "debs"
SIZE_BUDGET_BYTES = 40 * 1024 * 1024
SHORT_SIDE_STEP = 64
MIN_SHORT_SIDE = 256
VAL_FRACTION = 0.10
MIN_VAL = 3
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")

PLASMA_DEB_LICENSE = "GPL-2+ (debian/copyright, Files: *)"
LOMIRI_BG = "usr/share/backgrounds"
MATE_BG = "usr/share/backgrounds/mate/nature"


@dataclasses.dataclass(frozen=True)
class PhotoSource:
    """One curated photograph.

    ``path`` is relative to the unpacked package root; for Plasma wallpapers it is the wallpaper
    directory and the largest image under ``contents/images`` (never ``images_dark``) is used.
    """

    package: str
    name: str
    path: str
    author: str
    license: str


def _plasma(name: str, author: str, license: str) -> PhotoSource:
    return PhotoSource(
        "plasma-workspace-wallpapers", name, f"usr/share/wallpapers/{name}", author,
        f"{license} (metadata.json); package {PLASMA_DEB_LICENSE}",
    )


def _lomiri(package: str, file: str, author: str, license: str) -> PhotoSource:
    return PhotoSource(package, file.split("_by_")[0], f"{LOMIRI_BG}/{file}", author, license)


def _mate(file: str, author: str) -> PhotoSource:
    return PhotoSource("mate-backgrounds", Path(file).stem, f"{MATE_BG}/{file}", author, "GPL-2+")


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
        "Built by `tools/collect_training_photos.py` from Debian bookworm packages. Each photo was converted to",
        f"RGB and downscaled (integer `Image.reduce`, then LANCZOS) to a short side of at most {short_side} px;",
        "'factor' is original short side / stored short side. Stored as lossless WebP. Licences as declared by",
        "the packages (debian/copyright, Plasma metadata.json); attribution is required for CC-BY / CC-BY-SA.",
        "",
        "| split | file | package (version) | original path | author | licence | original size | stored size | factor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['split']} | {r['file']} | {r['package']} ({r['version']}) | {r['original_path']} | {r['author']} "
            f"| {r['license']} | {r['original_size'][0]}x{r['original_size'][1]} "
            f"| {r['stored_size'][0]}x{r['stored_size'][1]} | {r['factor']:.3f} |"
        )
    total = sum(r["bytes"] for r in records)
    lines += ["", f"{len(records)} photos, {total / 2**20:.2f} MiB of WebP."]
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
    train, val = split_names(names)
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
            "split": split, "file": f"{split}/{name}", "package": source.package, "version": version,
            "original_path": "/" + file.relative_to(root).as_posix(),
            "author": source.author, "license": source.license, "original_size": list(original_size),
            "stored_size": list(image.size), "factor": factor, "bytes": n_bytes,
        })
    return sorted(records, key=lambda r: r["file"])


def build(out: Path, short_side: int, force: bool, allowlist: tuple[PhotoSource, ...] = ALLOWLIST) -> list[dict]:
    """Fetch, curate, process and atomically publish the photo folder at ``out``."""
    check_output_dir(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wavelayers-debs-") as unpack_root:
        roots: dict[str, tuple[Path, str]] = {}
        for package in sorted({s.package for s in allowlist}):
            root = Path(unpack_root) / package
            roots[package] = (root, unpack_deb(fetch_deb(package), root))
        sources = [
            (s, roots[s.package][1], roots[s.package][0], resolve_source_file(roots[s.package][0], s))
            for s in allowlist
        ]
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
    print(f"{len(records)} photos ({len(records) - n_val} train, {n_val} val), {total / 2**20:.2f} MiB, "
          f"{time.perf_counter() - start:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
