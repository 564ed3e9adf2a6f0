#!/usr/bin/env python3
"""Writes the decoder's test fixtures: small good images in every format variant the decoder must handle, a set
of deliberately broken files, and expected.json with what PIL (the reference) decodes from each good file and from
scikit-image's sample photos.

Dev-time only (needs Pillow and scikit-image installed):  python3 tools/make_decoder_fixtures.py
"""
import hashlib
import importlib.util
import io
import json
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps

ROOT = os.path.join(os.path.dirname(__file__), "..", "Tests", "StagesTests", "Fixtures", "decoder")
GOOD = os.path.join(ROOT, "good")
BROKEN = os.path.join(ROOT, "broken")
SAMPLES = ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "logo.png", "hubble_deep_field.jpg",
           "retina.jpg", "motorcycle_left.png", "page.png", "chessboard_GRAY.png", "horse.png"]


def gradient(w=48, h=32):
    """A picture where every orientation looks different: red grows left→right, green top→bottom."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), ((x + y) * 7) % 256], axis=-1).astype(np.uint8)
    rgb[2:6, 2:10] = [255, 255, 255]  # a mark in the top-left corner
    return Image.fromarray(rgb, "RGB")


def summary(img):
    """Dimensions, mean per channel and a grid of sampled pixels — enough to catch any orientation or colour error."""
    a = np.asarray(img.convert("RGB"), dtype=np.uint8)
    h, w, _ = a.shape
    points = [(int(x * (w - 1) / 4), int(y * (h - 1) / 4)) for y in range(5) for x in range(5)]
    return {
        "width": w, "height": h,
        "mean": [float(a[..., c].mean()) for c in range(3)],
        "samples": [[x, y] + [int(v) for v in a[y, x]] for x, y in points],
    }


def exif_with_orientation(o):
    exif = Image.Exif()
    exif[0x0112] = o
    return exif.tobytes()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def main():
    os.makedirs(GOOD, exist_ok=True)
    os.makedirs(BROKEN, exist_ok=True)
    expected = {"good": {}, "samples": {}, "broken": {}}
    g = gradient()

    def save(name, image, **kw):
        path = os.path.join(GOOD, name)
        image.save(path, **kw)
        with Image.open(path) as im:
            expected["good"][name] = summary(ImageOps.exif_transpose(im))

    save("baseline.jpg", g, quality=92)
    save("progressive.jpg", g, quality=92, progressive=True)
    save("grayscale.jpg", g.convert("L"), quality=92)
    save("cmyk.jpg", g.convert("CMYK"), quality=95)
    for o in (2, 3, 6, 8):
        save(f"exif_orientation_{o}.jpg", g, quality=95, exif=exif_with_orientation(o))
    save("exif_orientation_6.png", g, exif=exif_with_orientation(6))
    save("palette.png", g.convert("P", palette=Image.ADAPTIVE, colors=32))
    save("gray.png", g.convert("L"))
    rgba = g.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(g.size))
    save("rgba.png", rgba)
    save("gray_alpha.png", g.convert("LA"))
    # 16-bit RGB: Pillow cannot write it, so build the PNG by hand; PIL's 8-bit reading keeps the high byte.
    a16 = (np.asarray(g, dtype=np.uint16) * 257 + 40).astype(">u2")
    raw = b"".join(b"\x00" + a16[y].tobytes() for y in range(a16.shape[0]))
    data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", g.width, g.height, 16, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))
    with open(os.path.join(GOOD, "rgb16.png"), "wb") as f:
        f.write(data)
    hi = (a16 >> 8).astype(np.uint8)
    expected["good"]["rgb16.png"] = summary(Image.fromarray(hi, "RGB"))

    spec = importlib.util.find_spec("skimage")
    data_dir = os.path.join(spec.submodule_search_locations[0], "data")
    for name in SAMPLES:
        with Image.open(os.path.join(data_dir, name)) as im:
            s = summary(ImageOps.exif_transpose(im))
            s["sha256"] = hashlib.sha256(open(os.path.join(data_dir, name), "rb").read()).hexdigest()
            expected["samples"][name] = s

    # Broken files and the error each must produce.
    baseline = open(os.path.join(GOOD, "baseline.jpg"), "rb").read()
    png = open(os.path.join(GOOD, "gray.png"), "rb").read()

    def broken(name, data, kind):
        with open(os.path.join(BROKEN, name), "wb") as f:
            f.write(data)
        expected["broken"][name] = kind

    broken("empty.jpg", b"", "empty")
    broken("truncated.jpg", baseline[: len(baseline) // 2], "truncated")
    broken("header_only.jpg", baseline[:200], "truncated")
    broken("truncated_in_scan.jpg", baseline[:-60], "truncated")
    broken("truncated.png", png[: len(png) // 2], "truncated")
    corrupt_crc = bytearray(png)
    corrupt_crc[40] ^= 0xFF  # inside IDAT: CRC no longer matches
    broken("bad_crc.png", bytes(corrupt_crc), "corrupt")
    rng = np.random.default_rng(7)
    broken("random_bytes.jpg", bytes(rng.integers(0, 256, 4096, dtype=np.uint8)), "unknownFormat")
    broken("text_file.png", b"this is not a picture\n" * 20, "unknownFormat")
    broken("jpeg_garbage_body.jpg", baseline[:2] + bytes(rng.integers(0, 256, 2000, dtype=np.uint8)), "corrupt")
    huge_png = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
                + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))
    broken("huge_dimensions.png", huge_png, "dimensionsTooLarge")
    wide = bytearray(baseline)
    sof = wide.find(b"\xff\xc0")
    struct.pack_into(">HH", wide, sof + 5, 12000, 12000)  # height, width: 144 Mpx, sides within 16384
    broken("too_many_pixels.jpg", bytes(wide), "tooManyPixels")
    zero = bytearray(png)
    struct.pack_into(">I", zero, 16, 0)  # IHDR width 0 (CRC fixed below)
    struct.pack_into(">I", zero, 29, zlib.crc32(bytes(zero[12:29])) & 0xFFFFFFFF)
    broken("zero_width.png", bytes(zero), "corrupt")

    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    print("wrote", ROOT)


if __name__ == "__main__":
    main()
