"""Pillow codecs at matched rates: the search result checked against Pillow directly, R-D curve format."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image, features

from integrations.compression import classic, datasets, metrics, results

PHOTOS = dict(datasets.bundled_photos(limit=2))
IMAGE = np.ascontiguousarray(PHOTOS["astronaut"][40:232, 120:376])  # 192 x 256 crop: fast, MS-SSIM-sized
SMALL = np.ascontiguousarray(PHOTOS["coffee"][100:228, 200:328])  # 128 x 128: too small for MS-SSIM
CODECS = classic.available_codecs()
INTEGER_CODECS = [c for c in ("jpeg", "webp", "avif") if c in CODECS]


def test_avif_support_is_reported():
    assert {"jpeg", "webp", "jpeg2000"} <= set(CODECS)
    assert ("avif" in CODECS) == features.check("avif")
    if "avif" not in CODECS:
        pytest.skip("this Pillow has no AVIF support: the avif cases are skipped")


def _pillow_bpp(codec: str, parameter) -> float:
    spec = classic.CODECS[codec]
    buffer = io.BytesIO()
    value = [parameter] if spec.parameter == "quality_layers" else int(parameter)
    Image.fromarray(IMAGE).save(buffer, format=spec.pillow_format, **{spec.parameter: value}, **spec.options)
    return len(buffer.getvalue()) * 8 / (IMAGE.shape[0] * IMAGE.shape[1])


@pytest.mark.parametrize("codec", CODECS)
def test_result_is_what_pillow_decodes(codec):
    r = classic.encode_at_bpp(IMAGE, codec, 0.6)
    decoded = np.asarray(Image.open(io.BytesIO(r.data)).convert("RGB"))
    assert np.array_equal(decoded, r.decoded)
    assert r.num_bytes == len(r.data) and r.bpp == pytest.approx(len(r.data) * 8 / IMAGE[..., 0].size)
    assert r.psnr == pytest.approx(metrics.psnr(IMAGE, decoded))
    assert r.ms_ssim == pytest.approx(metrics.ms_ssim(IMAGE, decoded))
    assert 20.0 < r.psnr < 50.0 and 0.8 < r.ms_ssim < 1.0
    assert r.encoding_time > 0 and r.decoding_time > 0


@pytest.mark.parametrize("codec", INTEGER_CODECS)
def test_integer_search_picks_the_closest_neighbour(codec):
    """Independent check with Pillow: no neighbouring quality is closer to the target in log rate."""
    spec = classic.CODECS[codec]
    for target in (0.3, 1.0):
        r = classic.encode_at_bpp(IMAGE, codec, target)
        q = int(r.parameter)
        assert r.bpp == pytest.approx(_pillow_bpp(codec, q))
        for neighbour in (q - 1, q + 1):
            if spec.low <= neighbour <= spec.high:
                assert abs(math.log(r.bpp / target)) <= abs(math.log(_pillow_bpp(codec, neighbour) / target)) + 1e-12


def test_jpeg2000_hits_the_rate_closely():
    for target in (0.25, 1.0):
        r = classic.encode_at_bpp(IMAGE, "jpeg2000", target)
        assert abs(r.bpp / target - 1) < 0.02
        assert r.bpp == pytest.approx(_pillow_bpp("jpeg2000", r.parameter))


@pytest.mark.parametrize("codec", INTEGER_CODECS)
def test_targets_outside_the_range_use_the_range_ends(codec):
    spec = classic.CODECS[codec]
    assert classic.encode_at_bpp(IMAGE, codec, 1e-4).parameter == spec.low
    assert classic.encode_at_bpp(IMAGE, codec, 60.0).parameter == spec.high


def test_rd_curve_format_and_means(tmp_path):
    curve = classic.rd_curve([IMAGE, SMALL], "jpeg", [1.0, 0.4, 0.4, 1e-4, 2e-4], names=["astro", "coffee"])
    keys = ["bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"]
    anchors = results.load_anchor_curves("kodak")
    if anchors:
        assert set(keys) == set(anchors["jpeg"]["results"])  # same key names as the published curves
    assert curve["name"] == "jpeg" and "Pillow" in curve["label"] and "optimize=True" in curve["description"]
    assert sorted(curve["results"]) == sorted(keys)
    # 1e-4 and 2e-4 both give quality 1 on both images: one point; 0.4 is listed once
    assert [p["target_bpp"] for p in curve["points"]] == [1e-4, 0.4, 1.0]
    assert all(len(v) == 3 for v in curve["results"].values())
    psnr = curve["results"]["psnr-rgb"]
    assert psnr[0] < psnr[1] < psnr[2]
    for i, point in enumerate(curve["points"]):
        astro, coffee = point["images"]
        assert (astro["image"], coffee["image"]) == ("astro", "coffee")
        assert curve["results"]["bpp"][i] == pytest.approx((astro["bpp"] + coffee["bpp"]) / 2)
        assert math.isnan(coffee["ms-ssim-rgb"])  # 128 x 128 is too small for MS-SSIM
        assert curve["results"]["ms-ssim-rgb"][i] == pytest.approx(astro["ms-ssim-rgb"])
    path = tmp_path / "jpeg.json"
    results.write_results(path, curve)
    back = results.read_results(path)
    assert back["results"]["bpp"] == pytest.approx(curve["results"]["bpp"])
    assert back["points"][0]["images"][1]["ms-ssim-rgb"] is None


def test_rd_curve_codes_each_image_at_its_own_extra_rates():
    curve = classic.rd_curve([IMAGE, SMALL], "jpeg", [0.5], names=["astro", "coffee"],
                             image_targets={"coffee": [1.2, 0.8, 0.8]})
    plain = classic.rd_curve([IMAGE, SMALL], "jpeg", [0.5], names=["astro", "coffee"])
    for key in ("bpp", "psnr-rgb"):  # the means leave the extra rates out
        assert curve["results"][key] == plain["results"][key]
    assert "image_points" not in plain
    extra = curve["image_points"]
    assert [(r["image"], r["target_bpp"]) for r in extra] == [("coffee", 0.8), ("coffee", 1.2)]
    for r in extra:  # the same record as coding that image alone at that target
        alone = classic.rd_curve([SMALL], "jpeg", [r["target_bpp"]], names=["coffee"])["points"][0]["images"][0]
        assert (r["bpp"], r["psnr-rgb"], r["parameter"]) == (alone["bpp"], alone["psnr-rgb"], alone["parameter"])
    with pytest.raises(ValueError, match="not given"):
        classic.rd_curve([SMALL], "jpeg", [0.5], names=["coffee"], image_targets={"astro": [0.5]})


def test_rd_curve_jpeg2000_rates_are_matched():
    curve = classic.rd_curve([IMAGE], "jpeg2000", [0.25, 0.5])
    assert curve["results"]["bpp"] == pytest.approx([0.25, 0.5], rel=0.02)


def test_bad_inputs_are_named(monkeypatch):
    with pytest.raises(ValueError, match="unknown codec 'png'"):
        classic.encode_at_bpp(IMAGE, "png", 0.5)
    with pytest.raises(TypeError, match=r"\(H, W, 3\) uint8"):
        classic.encode_at_bpp(IMAGE.astype(np.float32), "jpeg", 0.5)
    with pytest.raises(TypeError, match=r"\(H, W, 3\) uint8"):
        classic.encode_at_bpp(IMAGE[..., 0], "jpeg", 0.5)
    with pytest.raises(ValueError, match="positive"):
        classic.encode_at_bpp(IMAGE, "jpeg", 0.0)
    with pytest.raises(ValueError, match="names"):
        classic.rd_curve([IMAGE], "jpeg", [0.5], names=["a", "b"])
    with pytest.raises(ValueError, match="no images"):
        classic.rd_curve([], "jpeg", [0.5])
    real_check = features.check
    monkeypatch.setattr(features, "check", lambda name: False if name == "avif" else real_check(name))
    assert "avif" not in classic.available_codecs()
    with pytest.raises(RuntimeError, match="no avif support"):
        classic.rd_curve([IMAGE], "avif", [0.5])


def test_options_override_the_defaults():
    r444 = classic.encode_at_bpp(IMAGE, "jpeg", 0.8, options={"subsampling": "4:4:4"})
    r420 = classic.encode_at_bpp(IMAGE, "jpeg", 0.8)
    spec = classic.CODECS["jpeg"]
    buffer = io.BytesIO()
    Image.fromarray(IMAGE).save(buffer, format="JPEG", quality=int(r444.parameter), **{**spec.options,
                                                                                       "subsampling": "4:4:4"})
    assert buffer.getvalue() == r444.data
    assert r444.data != r420.data
    assert classic.encode_at_bpp(IMAGE, "jpeg444", 0.8).data == r444.data  # the named 4:4:4 variant


# ---------------------------------------------------------------- results files, anchors, plots, data sets


def _curve(name, bpp, psnr, **extra):
    return {"name": name, "results": {"bpp": bpp, "psnr-rgb": psnr}, **extra}


def test_results_round_trip_and_refusals(tmp_path):
    path = tmp_path / "r.json"
    data = _curve("m", [0.1, 0.2], [30.0, float("nan")], points=[{"x": float("inf")}])
    results.write_results(path, data)
    back = results.read_results(path)
    assert back["results"]["psnr-rgb"] == [30.0, None] and back["points"] == [{"x": None}]
    assert "NaN" not in path.read_text()
    with pytest.raises(FileExistsError, match="--force"):
        results.write_results(path, data)
    results.write_results(path, _curve("n", [0.3], [31.0]), force=True)
    assert results.read_results(path)["name"] == "n"
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match="junk.json"):
        results.read_results(tmp_path / "junk.json")
    with pytest.raises(ValueError, match="same length|entries like 'bpp'"):
        results.write_results(tmp_path / "bad.json", _curve("m", [0.1, 0.2], [30.0]))
    bpp, msssim_db = results.curve_points({"name": "x", "results": {"bpp": [0.5], "ms-ssim-rgb": [0.99]}},
                                          "ms-ssim-db-rgb")
    assert msssim_db[0] == pytest.approx(20.0)


def test_anchor_loading_is_graceful(tmp_path):
    root = tmp_path / "rd"
    (root / "mini").mkdir(parents=True)
    results.write_results(root / "mini" / "a.json", _curve("A", [0.1, 0.2], [30.0, 32.0]))
    (root / "mini" / "broken.json").write_text("[]")
    with pytest.warns(UserWarning, match="broken.json"):
        curves = results.load_anchor_curves("MINI", anchor_root=root)
    assert list(curves) == ["a"] and curves["a"]["anchor"] == "mini/a"
    assert results.load_anchor_curves("kodak", anchor_root=tmp_path / "absent") == {}
    assert results.published_anchors("no-such-set") == []


def test_published_kodak_anchors_have_distinct_names():
    curves = results.published_anchors("kodak")
    if not curves:
        pytest.skip("the shared Kodak anchor curves are not present")
    names = [c["name"] for c in curves]
    assert len(set(names)) == len(names) and "VTM" in names
    assert all("anchor" in c for c in curves)


def test_plot_rd_writes_a_png(tmp_path):
    path = tmp_path / "rd.png"
    curves = [_curve("model", [0.2, 0.4, 0.8], [29.0, 32.0, float("nan")], label="model (test)"),
              _curve("anchor", [0.1, 0.3, 0.9], [27.0, 31.0, 35.0], anchor="x/anchor"),
              {"name": "no psnr", "results": {"bpp": [0.1], "ms-ssim-rgb": [0.9]}}]
    results.plot_rd(curves, path, title="test")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 400
    with pytest.raises(FileExistsError, match="--force"):
        results.plot_rd(curves, path)
    with pytest.raises(ValueError, match="none of the 1 curves"):
        results.plot_rd(curves[2:], tmp_path / "empty.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rd.png"]


def test_list_images(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.tif", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in datasets.list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.tif"]
    with pytest.raises(FileNotFoundError, match="missing"):
        datasets.list_images(tmp_path / "missing")
    with pytest.raises(NotADirectoryError, match="notes.txt"):
        datasets.list_images(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        datasets.list_images(tmp_path / "empty")


def test_bundled_photos(tmp_path):
    photos = datasets.bundled_photos()
    assert [n for n, _ in photos] == list(datasets.BUNDLED_PHOTOS)
    assert all(a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3 for _, a in photos)
    paths = datasets.write_bundled_photos(tmp_path, limit=2)
    assert [p.name for p in paths] == ["astronaut.png", "coffee.png"]
    assert datasets.list_images(tmp_path) == paths
    assert np.array_equal(np.asarray(Image.open(paths[1])), photos[1][1])
    with pytest.raises(FileExistsError):
        datasets.write_bundled_photos(tmp_path, limit=1)
    with pytest.raises(ValueError, match="limit"):
        datasets.bundled_photos(limit=0)
