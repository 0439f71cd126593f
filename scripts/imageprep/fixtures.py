#!/usr/bin/env python3
"""Golden fixtures for trak's image decoding and CLIP preprocessing (internal/imageprep).

What it builds
    Input images in internal/imageprep/testdata/in/ and, for each of them, what
    the Python reference pipeline produces, in internal/imageprep/testdata/want/:

      rgb    the decoded image as the reference sees it:
             PIL.Image.open(f) -> ImageOps.exif_transpose -> .convert("RGB")
      s224   torchvision Compose([Resize(S, interpolation=BICUBIC),
      s32    CenterCrop(S)]) applied to that RGB image (S = 224 and 32)

    All three are stored as uint8 RGB PNG (lossless and small), each named by
    a hash of its content so that fixtures which decode alike share files;
    manifest.json maps every input file to its three PNGs.

    The float tensors are NOT stored per fixture (they would take ~20x the
    space): ToTensor() + Normalize(mean, std) is a per-value function of the
    uint8 crop, so the script asserts, for every fixture and S, that
    torchvision's complete output equals Normalize(ToTensor(stored crop))
    exactly, and the Go tests check the normalisation itself bit for bit
    against two stored torchvision tensors:

      want/normalize_all_values.npy  float32 (3, 16, 16): ToTensor + Normalize
          of a 16x16 RGB image whose R, G, B planes are v, 255 - v,
          (7 v) mod 256 with v = 16 y + x (every value 0..255 in every channel);
      want/tensor_rgba_alpha.png_s32.npy  float32 (3, 32, 32): the complete
          torchvision output (Resize, CenterCrop, ToTensor, Normalize) for
          in/rgba_alpha.png at S = 32, an end-to-end check of the CHW layout.

    TIFF: Pillow 9.4 already applies a TIFF's Orientation tag when it loads the
    image, and exif_transpose would apply it again (a Pillow bug), so TIFF
    files skip exif_transpose; the reference is the image turned once.

    manifest.json lists every input with its format and a short description.

    Inputs:
      (a) synthetic edge cases: grayscale / gray+alpha / palette (with and
          without tRNS) / RGBA with transparent pixels hiding non-zero colours /
          RGB with tRNS / 16-bit RGB, RGBA, gray, gray+alpha / 1-, 2- and 4-bit
          gray PNG; GIF (transparent index, offset first frame); BMP 24/32/8-bit;
          TIFF raw, LZW, deflate, RGBA, gray, 16-bit gray, Orientation tag;
          WebP lossless / lossy, with and without alpha, with EXIF; JPEG with
          EXIF orientation 1..8 in little- and big-endian TIFF headers,
          4:2:0 / 4:2:2 / 4:4:4 / grayscale / progressive / CMYK JPEG, and
          with cjpeg 4:4:0 / 4:1:1 / 4:1:0 / RGB / restart-marker JPEG;
          3-, 4- and 5-pixel-wide 4:2:0 JPEGs; palette, gray+alpha and
          1-bit TIFF; 1-bit and grayscale BMP;
          tiny images (1x1, 3x200, 200x3, 2x2) and images whose short side is
          already S (224x301, 224x303, 32x45: exercises the crop's
          round-half-to-even).
      (b) real photos from Debian python3-skimage's data directory (astronaut,
          coffee, chelsea), downscaled with PIL and stored as JPEG.

    As stored: for every fixture whose EXIF orientation turns it (JPEG APP1,
    PNG eXIf, WebP EXIF), results marked "as_stored" hold both modes at
    S = 224 and 32 for the image as PIL.Image.open gives it, without
    exif_transpose: what open_clip's loaders resize, and trak's default.

    Native mode: every fixture also has its expected output under
    open_clip's transform applied to the image in its own mode (native,
    preprocess(Image.open(path))) and after convert("RGB") (rgb), for the
    transforms in TRANSFORMS (S = 224 and 32; bilinear, longest with and
    without a fill colour, squash), stored as the S x S uint8 RGB image after
    convert("RGB") (ToTensor + Normalize are a per-value function of it), or
    the error the reference raises; and tuxpaint.json holds references for two
    installed Tux Paint stamps.

How to rerun (from the repository root; needs Debian python3-pil,
python3-torchvision, python3-skimage, python3-numpy, libjpeg-turbo-progs
for cjpeg, and tuxpaint-stamps-default for the stamp references):

    /usr/bin/python3 scripts/imageprep/fixtures.py

The output is deterministic for a given PIL/libjpeg/libwebp; it was generated
with the versions printed at the end (also stored in manifest.json).
"""

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image, ImageOps
from torchvision import transforms as T
from torchvision.transforms import functional as TF

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "internal", "imageprep", "testdata")
IN = os.path.join(OUT, "in")
WANT = os.path.join(OUT, "want")
SKIMAGE_DATA = "/usr/lib/python3/dist-packages/skimage/data"

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
SIZES = (224, 32)

rng = np.random.default_rng(20240611)
manifest = []


# ---------------------------------------------------------------- content


def pattern(w, h, seed, busy=True):
    """Deterministic RGB test content: gradients, a slow sinusoid, sharp-edged
    blocks (full-contrast edges exercise the resize's clipping) and a patch of
    noise (varied values exercise its rounding). Kept low in entropy so that the
    expected 224 x 224 outputs compress well; busy=False leaves out the
    sinusoid and the noise (for fixtures that test decoding, not resizing)."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack(
        [
            255 * x / max(w - 1, 1),
            255 * y / max(h - 1, 1),
            127.5 + 127.5 * np.sin((x + 2 * y) / 9.0) if busy else 255 * (x + y) / max(w + h - 2, 1),
        ],
        axis=-1,
    )
    for _ in range(4):
        x0, y0 = r.integers(0, max(w, 1)), r.integers(0, max(h, 1))
        bw, bh = r.integers(1, max(w // 3, 2)), r.integers(1, max(h // 3, 2))
        base[y0 : y0 + bh, x0 : x0 + bw] = r.integers(0, 256, 3)
    py, px = h // 4, w // 4
    if busy:
        base[py : py + max(h // 4, 1), px : px + max(w // 4, 1)] += r.normal(0, 20, (max(h // 4, 1), max(w // 4, 1), 3))
    return np.clip(np.rint(base), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- PNG writer
# PIL cannot write 16-bit RGB/RGBA/gray+alpha or 2-bit gray PNGs, so these are
# written by hand (IHDR, optional extra chunks, one IDAT, IEND; filter 0).


def png_chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, rows, w, h, bitdepth, colortype, extra=b""):
    raw = b"".join(b"\x00" + r for r in rows)
    data = b"\x89PNG\r\n\x1a\n"
    data += png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 0))
    data += extra
    data += png_chunk(b"IDAT", zlib.compress(raw, 9))
    data += png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def pack_bits(vals, bits):
    out = bytearray()
    per = 8 // bits
    for i in range(0, len(vals), per):
        b = 0
        for j in range(per):
            v = int(vals[i + j]) if i + j < len(vals) else 0
            b |= v << (8 - bits * (j + 1))
        out.append(b)
    return bytes(out)


# ---------------------------------------------------------------- EXIF


def exif_tiff(orientation, big_endian, with_make=True):
    """A minimal TIFF structure (IFD0 with Make and Orientation) as EXIF carries it."""
    e = ">" if big_endian else "<"
    hdr = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + struct.pack(e + "I", 8)
    make = b"trak fixture\x00"
    entries = []
    if with_make:
        entries.append((0x010F, 2, len(make), None))  # ASCII, stored out of line
    if orientation is not None:
        entries.append((0x0112, 3, 1, orientation))  # SHORT
    n = len(entries)
    ifd_size = 2 + 12 * n + 4
    data_off = 8 + ifd_size
    ifd = struct.pack(e + "H", n)
    for tag, typ, count, val in entries:
        if typ == 2:
            ifd += struct.pack(e + "HHII", tag, typ, count, data_off)
        else:
            ifd += struct.pack(e + "HHI", tag, typ, count) + struct.pack(e + "H", val) + b"\x00\x00"
    ifd += struct.pack(e + "I", 0)
    return hdr + ifd + (make if with_make else b"")


def exif_app1(orientation, big_endian):
    return b"Exif\x00\x00" + exif_tiff(orientation, big_endian)


def insert_app1_before_exif(jpeg, payload):
    """Insert an extra APP1 segment right after SOI (ahead of any Exif APP1)."""
    seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + seg + jpeg[2:]


# ---------------------------------------------------------------- helpers


def add(name, fmt, desc):
    manifest.append({"file": name, "format": fmt, "desc": desc})


def save_pil(im, name, fmt, desc, **kw):
    im.save(os.path.join(IN, name), **kw)
    add(name, fmt, desc)


def reference_rgb(path):
    im = Image.open(path)
    if im.format != "TIFF":
        im = ImageOps.exif_transpose(im)
    # PIL 9.4 already applies a TIFF's Orientation tag when it loads the image
    # (TiffImageFile.load_end), and exif_transpose would then apply it a second
    # time (a Pillow bug); the reference is the image turned once.
    return im.convert("RGB")


def to_float(crop):
    return T.Normalize(MEAN, STD)(T.ToTensor()(crop))


def store(arr):
    """Save a uint8 HxWx3 array as want/<hash>.png once; return the file name.
    Naming by content shares the files between fixtures that decode alike
    (e.g. the little- and big-endian EXIF variants, TIFF compressions)."""
    h = hashlib.sha256(struct.pack("<II", arr.shape[1], arr.shape[0]) + arr.tobytes()).hexdigest()[:16]
    name = h + ".png"
    path = os.path.join(WANT, name)
    if not os.path.exists(path):
        Image.fromarray(arr, "RGB").save(path, optimize=True)
    return name


def reference_native(path):
    """The image as preprocess(Image.open(path)) sees it: in its own mode
    (EXIF orientation applied as for reference_rgb)."""
    im = Image.open(path)
    if im.format != "TIFF":
        im = ImageOps.exif_transpose(im)
    im.load()
    return im


def reference_stored(path):
    """The image as PIL.Image.open gives it, without exif_transpose: what
    open_clip's loaders resize (PIL applies a TIFF's Orientation tag itself
    when it loads the image)."""
    im = Image.open(path)
    im.load()
    return im


# ResizeKeepRatio and CenterCropOrPad, written from open_clip's transform.py
# (open_clip is not installable here): the "longest" resize mode.
class ResizeKeepRatio:
    def __init__(self, size, interpolation, longest=1.0):
        self.size, self.interpolation, self.longest = (size, size), interpolation, float(longest)

    def __call__(self, img):
        h, w = img.size[::-1]
        ratio_h, ratio_w = h / self.size[0], w / self.size[1]
        ratio = max(ratio_h, ratio_w) * self.longest + min(ratio_h, ratio_w) * (1.0 - self.longest)
        size = [round(x * 1.0 / ratio) for x in (h, w)]
        return TF.resize(img, size, self.interpolation)


class CenterCropOrPad:
    def __init__(self, size, fill=0):
        self.size, self.fill = (size, size), fill

    def __call__(self, img):
        _, ih, iw = TF.get_dimensions(img)
        ch, cw = self.size
        if cw > iw or ch > ih:
            pad = [(cw - iw) // 2 if cw > iw else 0, (ch - ih) // 2 if ch > ih else 0,
                   (cw - iw + 1) // 2 if cw > iw else 0, (ch - ih + 1) // 2 if ch > ih else 0]
            img = TF.pad(img, pad, fill=self.fill)
            _, ih, iw = TF.get_dimensions(img)
            if cw == iw and ch == ih:
                return img
        return TF.crop(img, int(round((ih - ch) / 2.0)), int(round((iw - cw) / 2.0)), ch, cw)


def geometric(t):
    """The resize/crop steps of open_clip's image_transform(is_train=False)
    for transform t (a TRANSFORMS entry)."""
    s = t["size"]
    interp = T.InterpolationMode.BILINEAR if t["interpolation"] == "bilinear" else T.InterpolationMode.BICUBIC
    if t["resize_mode"] == "longest":
        return T.Compose([ResizeKeepRatio(s, interp, longest=1), CenterCropOrPad(s, fill=t["fill"])])
    if t["resize_mode"] == "squash":
        return T.Compose([T.Resize((s, s), interpolation=interp)])
    return T.Compose([T.Resize(s, interpolation=interp), T.CenterCrop(s)])


# Transforms checked in both modes: "d224" and "d32" on every fixture, the
# others (bilinear, longest with and without a fill colour, squash) on the
# fixtures VARIANT_FORMATS selects.
TRANSFORMS = {
    "d224": dict(size=224, interpolation="bicubic", resize_mode="shortest", fill=0),
    "d32": dict(size=32, interpolation="bicubic", resize_mode="shortest", fill=0),
    "bl32": dict(size=32, interpolation="bilinear", resize_mode="shortest", fill=0),
    "lo32": dict(size=32, interpolation="bicubic", resize_mode="longest", fill=0),
    "lo48f": dict(size=48, interpolation="bilinear", resize_mode="longest", fill=77),
    "sq32": dict(size=32, interpolation="bicubic", resize_mode="squash", fill=0),
    "sq40bl": dict(size=40, interpolation="bilinear", resize_mode="squash", fill=0),
}


def wants_variants(m):
    return m["format"] != "jpeg" or m["file"] in ("cmyk.jpg", "gray.jpg", "photo_chelsea.jpg")


def build_expectations():
    for m in manifest:
        path = os.path.join(IN, m["file"])
        rgb = reference_rgb(path)
        m["width"], m["height"] = rgb.size
        m["rgb"] = store(np.asarray(rgb))
        for s in SIZES:
            geo = T.Compose([T.Resize(s, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(s)])
            full = T.Compose([geo, T.ToTensor(), T.Normalize(MEAN, STD)])
            crop = geo(rgb)
            assert crop.size == (s, s), (m["file"], crop.size)
            want = full(rgb).numpy()
            got = to_float(crop).numpy()
            assert want.dtype == np.float32 and np.array_equal(want, got), m["file"]
            m["s%d" % s] = store(np.asarray(crop))
            if m["file"] == "rgba_alpha.png" and s == 32:
                np.save(os.path.join(WANT, "tensor_rgba_alpha.png_s32.npy"), want)
        native = reference_native(path)
        m["mode"] = native.mode
        m["results"] = []
        for key, t in TRANSFORMS.items():
            if key not in ("d224", "d32") and not wants_variants(m):
                continue
            for mode, im in (("native", native), ("rgb", rgb)):
                r = {"transform": key, "mode": mode}
                try:
                    out = geometric(t)(im).convert("RGB")
                    assert out.size == (t["size"], t["size"]), (m["file"], key, out.size)
                    r["want"] = store(np.asarray(out))
                except ValueError as e:  # e.g. Pillow cannot resize mode I;16
                    r["error"] = str(e)
                m["results"].append(r)
        # Without exif_transpose (open_clip's own reading, trak's default):
        # the image as stored, for the fixtures whose EXIF orientation turns
        # them (a TIFF's tag is applied by PIL on load either way).
        stored = reference_stored(path)
        if stored.size != native.size or not np.array_equal(np.asarray(stored.convert("RGB")), np.asarray(rgb)):
            for key in ("d224", "d32"):
                t = TRANSFORMS[key]
                for mode, im in (("native", stored), ("rgb", stored.convert("RGB"))):
                    out = geometric(t)(im).convert("RGB")
                    m["results"].append({"transform": key, "mode": mode, "as_stored": True, "want": store(np.asarray(out))})
        # The complete torchvision output of one native-mode transform, for
        # an end-to-end check of the RGBa round trip and the CHW layout.
        if m["file"] == "rgba_gradient.png":
            t = TRANSFORMS["d32"]
            full = T.Compose([geometric(t), T.Lambda(lambda im: im.convert("RGB")), T.ToTensor(), T.Normalize(MEAN, STD)])
            np.save(os.path.join(WANT, "tensor_rgba_gradient.png_native_s32.npy"), full(native).numpy())


# ---------------------------------------------------------------- fixtures


def synthetic():
    # --- PNG
    rgb = pattern(97, 61, 1)
    save_pil(Image.fromarray(rgb), "rgb_odd.png", "png", "8-bit RGB, odd size 97x61")
    g = pattern(97, 61, 2)[..., 0]
    save_pil(Image.fromarray(g, "L"), "gray.png", "png", "8-bit grayscale")
    la = np.stack([pattern(50, 70, 3)[..., 1], rng.integers(0, 256, (70, 50), dtype=np.uint8)], -1)
    save_pil(Image.fromarray(la, "LA"), "gray_alpha.png", "png", "8-bit gray+alpha")
    pal = Image.fromarray(pattern(80, 50, 4)).quantize(colors=200, method=Image.Quantize.MEDIANCUT)
    save_pil(pal, "palette.png", "png", "palette (P), 200 colours")
    pal2 = Image.fromarray(pattern(64, 48, 5)).quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    save_pil(pal2, "palette_trns.png", "png", "palette with tRNS (index 3 transparent, others partly)",
             transparency=bytes([255, 128, 0, 0] + [255] * 12))
    # RGBA with varied alpha, including fully transparent pixels over non-zero colours
    c = pattern(90, 70, 6)
    a = rng.integers(0, 256, (70, 90), dtype=np.uint8)
    a[:, :20] = 0
    a[30:40, :] = 255
    a[::7, ::5] = 1
    save_pil(Image.fromarray(np.dstack([c, a]), "RGBA"), "rgba_alpha.png", "png",
             "RGBA, alpha 0..255 with colours kept under alpha 0")
    save_pil(Image.fromarray(rgb), "rgb_trns.png", "png", "RGB with a tRNS colour", transparency=(0, 0, 0))

    # 16-bit and low-bit PNG, written by hand
    w, h = 45, 33
    v = rng.integers(0, 65536, (h, w, 4), dtype=np.uint16)
    v[..., :3] = (pattern(w, h, 7).astype(np.uint16) * 257 + rng.integers(0, 257, (h, w, 3))).clip(0, 65535)
    write_png(os.path.join(IN, "rgb16.png"), [v[y, :, :3].astype(">u2").tobytes() for y in range(h)], w, h, 16, 2)
    add("rgb16.png", "png", "16-bit RGB (PIL keeps the high byte)")
    write_png(os.path.join(IN, "rgba16.png"), [v[y].astype(">u2").tobytes() for y in range(h)], w, h, 16, 6)
    add("rgba16.png", "png", "16-bit RGBA")
    g16 = np.zeros((h, w), np.uint16)
    g16[:, : w // 2] = rng.integers(0, 256, (h, w // 2))  # values <= 255 survive PIL's I -> RGB
    g16[:, w // 2 :] = rng.integers(0, 65536, (h, w - w // 2))  # larger ones clip to 255
    write_png(os.path.join(IN, "gray16.png"), [g16[y].astype(">u2").tobytes() for y in range(h)], w, h, 16, 0)
    add("gray16.png", "png", "16-bit gray (PIL: mode I, convert clips to 0..255)")
    ga16 = np.stack([v[..., 0], v[..., 3]], -1)
    write_png(os.path.join(IN, "gray_alpha16.png"), [ga16[y].astype(">u2").tobytes() for y in range(h)], w, h, 16, 4)
    add("gray_alpha16.png", "png", "16-bit gray+alpha")
    for bits in (1, 2, 4):
        vals = pattern(w, h, 30 + bits, busy=False)[..., 0] >> (8 - bits)
        write_png(os.path.join(IN, "gray%dbit.png" % bits), [pack_bits(vals[y], bits) for y in range(h)], w, h, bits, 0)
        add("gray%dbit.png" % bits, "png", "%d-bit grayscale" % bits)
    # PNG with an eXIf chunk (orientation 6)
    save_pil(Image.fromarray(pattern(40, 24, 8, busy=False)), "exif_orient6.png", "png", "PNG eXIf orientation 6",
             exif=exif_app1(6, False))

    # --- GIF
    gif = Image.fromarray(pattern(70, 45, 9)).quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    save_pil(gif, "palette.gif", "gif", "GIF, 64 colours")
    save_pil(gif, "palette_trns.gif", "gif", "GIF with transparent index 5 (stored colour kept)",
             transparency=5, optimize=False)
    # offset first frame: screen 90x60, frame 70x45 at (11, 7)
    b = io.BytesIO()
    gif.save(b, "GIF", transparency=5, optimize=False)
    d = bytearray(b.getvalue())
    struct.pack_into("<HH", d, 6, 90, 60)
    i = d.index(b"\x2c")  # image descriptor (after header, palette and GCE)
    while struct.unpack_from("<HH", d, i + 5) != (70, 45):
        i = d.index(b"\x2c", i + 1)
    struct.pack_into("<HH", d, i + 1, 11, 7)
    with open(os.path.join(IN, "offset_frame.gif"), "wb") as f:
        f.write(bytes(d))
    add("offset_frame.gif", "gif", "GIF whose first frame is smaller than the screen, at an offset")

    # --- BMP
    save_pil(Image.fromarray(pattern(67, 41, 10, busy=False)), "rgb24.bmp", "bmp", "24-bit BMP")
    save_pil(Image.fromarray(np.dstack([pattern(67, 41, 11, busy=False), rng.integers(0, 256, (41, 67), dtype=np.uint8)]), "RGBA"),
             "rgba32.bmp", "bmp", "32-bit BMP")
    save_pil(pal, "palette8.bmp", "bmp", "8-bit palette BMP")
    save_pil(Image.fromarray(pattern(67, 41, 31, busy=False)[..., 1]).convert("1"), "bilevel.bmp", "bmp",
             "1-bit BMP")
    save_pil(Image.fromarray(pattern(67, 41, 32, busy=False)[..., 2], "L"), "gray8.bmp", "bmp", "grayscale BMP")

    # --- TIFF
    t = Image.fromarray(pattern(59, 43, 12, busy=False))
    save_pil(t, "rgb_raw.tif", "tiff", "TIFF RGB uncompressed")
    save_pil(t, "rgb_lzw.tif", "tiff", "TIFF RGB LZW", compression="tiff_lzw")
    save_pil(t, "rgb_deflate.tif", "tiff", "TIFF RGB deflate", compression="tiff_adobe_deflate")
    save_pil(Image.fromarray(np.dstack([pattern(59, 43, 13, busy=False), rng.integers(0, 256, (43, 59), dtype=np.uint8)]), "RGBA"),
             "rgba.tif", "tiff", "TIFF RGBA (unassociated alpha)")
    save_pil(Image.fromarray(pattern(59, 43, 14, busy=False)[..., 2], "L"), "gray.tif", "tiff", "TIFF grayscale")
    save_pil(Image.fromarray(g16), "gray16.tif", "tiff", "TIFF 16-bit gray (PIL clips to 0..255)")
    save_pil(t, "orient8.tif", "tiff", "TIFF with Orientation tag 8", tiffinfo={274: 8})
    save_pil(pal2, "palette.tif", "tiff", "TIFF palette")
    save_pil(Image.fromarray(la, "LA"), "gray_alpha.tif", "tiff", "TIFF gray+alpha")
    save_pil(Image.fromarray(pattern(59, 43, 29, busy=False)[..., 0]).convert("1"), "bilevel.tif", "tiff",
             "TIFF 1-bit")

    # --- WebP
    wimg = Image.fromarray(pattern(83, 57, 15))
    save_pil(wimg, "lossless.webp", "webp", "WebP lossless RGB", lossless=True)
    save_pil(Image.fromarray(np.dstack([pattern(83, 57, 16), rng.integers(0, 256, (57, 83), dtype=np.uint8)]), "RGBA"),
             "lossless_alpha.webp", "webp", "WebP lossless RGBA", lossless=True, exact=True)
    save_pil(wimg, "lossy.webp", "webp", "WebP lossy (VP8), odd size", quality=80)
    save_pil(Image.fromarray(pattern(64, 48, 17)), "lossy_even.webp", "webp", "WebP lossy, even size", quality=90)
    save_pil(Image.fromarray(np.dstack([pattern(83, 57, 18), rng.integers(0, 256, (57, 83), dtype=np.uint8)]), "RGBA"),
             "lossy_alpha.webp", "webp", "WebP lossy with alpha (VP8X+ALPH)", quality=80)
    save_pil(Image.fromarray(pattern(50, 30, 19, busy=False)), "lossy_exif3.webp", "webp", "WebP lossy with EXIF orientation 3",
             quality=85, exif=exif_app1(3, True))

    # --- JPEG
    src = Image.fromarray(pattern(61, 39, 20, busy=False))
    for o in range(1, 9):
        for be in (False, True):
            name = "orient%d_%s.jpg" % (o, "be" if be else "le")
            src.save(os.path.join(IN, name), quality=92, exif=exif_app1(o, be))
            add(name, "jpeg", "JPEG EXIF orientation %d, %s-endian TIFF header" % (o, "big" if be else "little"))
    # an XMP APP1 ahead of the Exif APP1
    b = io.BytesIO()
    src.save(b, "JPEG", quality=92, exif=exif_app1(6, False))
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>"
    with open(os.path.join(IN, "xmp_then_exif6.jpg"), "wb") as f:
        f.write(insert_app1_before_exif(b.getvalue(), xmp))
    add("xmp_then_exif6.jpg", "jpeg", "JPEG with an XMP APP1 before the Exif APP1 (orientation 6)")
    j = Image.fromarray(pattern(77, 53, 21))
    save_pil(j, "sub420.jpg", "jpeg", "JPEG 4:2:0, odd size", quality=90, subsampling=2)
    save_pil(j, "sub422.jpg", "jpeg", "JPEG 4:2:2", quality=90, subsampling=1)
    save_pil(j, "sub444.jpg", "jpeg", "JPEG 4:4:4", quality=90, subsampling=0)
    save_pil(j, "progressive.jpg", "jpeg", "progressive JPEG 4:2:0", quality=90, progressive=True)
    save_pil(j.convert("L"), "gray.jpg", "jpeg", "grayscale JPEG", quality=90)
    save_pil(j.convert("CMYK"), "cmyk.jpg", "jpeg", "CMYK JPEG (Adobe, inverted)", quality=95)

    # tiny 4:2:0 JPEGs: a chroma plane at most 2 samples wide is upsampled by
    # repetition, a wider one by the triangle filter
    for w_ in (3, 4, 5):
        save_pil(Image.fromarray(pattern(w_, 7, 40 + w_)), "tiny%dx7_420.jpg" % w_, "jpeg",
                 "%dx7 JPEG 4:2:0" % w_, quality=90, subsampling=2)
    # sampling factors PIL cannot write, made with libjpeg-turbo's cjpeg
    ppm = os.path.join(IN, "tmp.ppm")
    Image.fromarray(pattern(77, 53, 50)).save(ppm)
    for name, args, desc in [
        ("sub440.jpg", ["-sample", "1x2,1x1,1x1"], "JPEG 4:4:0 (cjpeg)"),
        ("sub411.jpg", ["-sample", "4x1,1x1,1x1"], "JPEG 4:1:1 (cjpeg)"),
        ("sub410.jpg", ["-sample", "4x2,1x1,1x1"], "JPEG 4:1:0 (cjpeg)"),
        ("adobe_rgb.jpg", ["-rgb"], "JPEG stored as RGB, Adobe transform 0 (cjpeg)"),
        ("restart.jpg", ["-restart", "1", "-sample", "2x2,1x1,1x1"], "JPEG 4:2:0 with restart markers (cjpeg)"),
    ]:
        subprocess.run(["cjpeg", "-quality", "90"] + args + ["-outfile", os.path.join(IN, name), ppm], check=True)
        add(name, "jpeg", desc)
    os.remove(ppm)

    # --- tiny and exact-size images
    save_pil(Image.fromarray(np.array([[[200, 10, 90]]], np.uint8)), "tiny1x1.png", "png", "1x1")
    save_pil(Image.fromarray(pattern(2, 2, 22)), "tiny2x2.png", "png", "2x2")
    save_pil(Image.fromarray(pattern(3, 200, 23, busy=False)), "thin3x200.png", "png", "3x200 (long side 14933 at S=224)")
    save_pil(Image.fromarray(pattern(200, 3, 24, busy=False)), "flat200x3.png", "png", "200x3")
    save_pil(Image.fromarray(pattern(224, 301, 25, busy=False)), "exact224x301.png", "png",
             "short side 224: no resize at S=224, crop top round(38.5) = 38")
    save_pil(Image.fromarray(pattern(303, 224, 26, busy=False)), "exact303x224.png", "png",
             "short side 224: crop left round(39.5) = 40")
    save_pil(Image.fromarray(pattern(32, 45, 27)), "exact32x45.png", "png", "short side 32")
    save_pil(Image.fromarray(pattern(32, 45, 28)), "exact32x45.jpg", "jpeg", "short side 32, JPEG", quality=90)


def photos():
    specs = [
        ("astronaut.png", (256, 256), dict(quality=90), "skimage astronaut, 256x256, JPEG q90 4:2:0"),
        ("coffee.png", (336, 224), dict(quality=90, progressive=True), "skimage coffee, 336x224, progressive q90"),
        ("chelsea.png", (300, 200), dict(quality=92, subsampling=1), "skimage chelsea, 300x200, q92 4:2:2"),
    ]
    for fn, size, kw, desc in specs:
        im = Image.open(os.path.join(SKIMAGE_DATA, fn)).convert("RGB").resize(size, Image.Resampling.LANCZOS)
        name = "photo_" + fn.replace(".png", ".jpg")
        save_pil(im, name, "jpeg", desc, **kw)


def write_bmp_v4(path, rgba, bitfields):
    """A 32-bit BMP with a BITMAPV4HEADER (PIL writes only the 40-byte
    header): compression BI_BITFIELDS with BGRA masks, or BI_RGB. The
    reference reads the first as RGBA and the second as RGB (alpha ignored);
    Go's decoder keeps alpha in both."""
    h, w = rgba.shape[:2]
    px = rgba[::-1, :, [2, 1, 0, 3]].tobytes()  # bottom-up BGRA
    info = struct.pack("<IiiHHIIiiII", 108, w, h, 1, 32, 3 if bitfields else 0, len(px), 2835, 2835, 0, 0)
    info += struct.pack("<IIII", 0xFF0000, 0xFF00, 0xFF, 0xFF000000)  # R, G, B, A masks
    info += b"BGRs" + b"\x00" * 36 + b"\x00" * 12  # colour space, endpoints, gamma
    off = 14 + len(info)
    data = b"BM" + struct.pack("<IHHI", off + len(px), 0, 0, off) + info + px
    with open(path, "wb") as f:
        f.write(data)


def native_fixtures():
    """Images whose own-mode resize (preprocess(Image.open(path))) differs
    from resizing after convert("RGB"): real and partial transparency with
    colour under alpha 0, palettes with partial tRNS, gray+alpha, 16-bit
    gray with values above 255, palette and gray GIF/BMP, mode 1."""
    w, h = 90, 70
    y, x = np.mgrid[0:h, 0:w]
    c = pattern(w, h, 60)
    a = np.clip(x * 255 // (w - 1), 0, 255).astype(np.uint8)  # horizontal alpha ramp 0..255
    a[:10, :] = 0  # a band of alpha 0 over bright colour
    c[:10, :] = rng.integers(128, 256, (10, w, 3))
    save_pil(Image.fromarray(np.dstack([c, a]), "RGBA"), "rgba_gradient.png", "png",
             "RGBA, alpha ramp 0..255 left to right, random colour under alpha 0")
    a2 = ((x // 9 + y // 7) % 2 * 255).astype(np.uint8)  # checkerboard of alpha 0 / 255
    c2 = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    save_pil(Image.fromarray(np.dstack([c2, a2]), "RGBA"), "rgba_checker.png", "png",
             "RGBA, alpha checkerboard 0/255 over random colour (sharp alpha edges)")
    a3 = np.clip(255 - y * 255 // (h - 1), 0, 255).astype(np.uint8)
    save_pil(Image.fromarray(np.dstack([pattern(w, h, 61)[..., 0], a3]), "LA"), "la_gradient.png", "png",
             "gray+alpha, vertical alpha ramp")
    save_pil(Image.fromarray(np.dstack([c2[:9, :7], a2[:9, :7]]), "RGBA"), "rgba_tiny7x9.png", "png",
             "7x9 RGBA (upsampled by every S)")
    pal = Image.fromarray(pattern(66, 50, 62)).quantize(colors=32, method=Image.Quantize.MEDIANCUT)
    save_pil(pal, "palette_alpha.png", "png", "palette with tRNS: 32 entries of alpha 0..255",
             transparency=bytes(range(0, 256, 8)))
    pal16 = Image.fromarray(pattern(33, 47, 63)).quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    save_pil(pal16, "palette4bit.png", "png", "4-bit palette PNG", bits=4)
    save_pil(pal, "palette_exif6.png", "png", "palette PNG with eXIf orientation 6", exif=exif_app1(6, False))
    save_pil(Image.fromarray(np.dstack([c, a]), "RGBA"), "rgba_exif8.png", "png", "RGBA PNG with eXIf orientation 8",
             exif=exif_app1(8, True))
    g = pattern(w, h, 64)[..., 1]
    save_pil(Image.fromarray(g, "L"), "gray_trns.png", "png", "8-bit gray with a tRNS value (mode L, ignored)",
             transparency=int(g[5, 5]))
    # 16-bit PNGs written by hand
    ww, hh = 45, 33
    g16 = (np.clip(np.mgrid[0:hh, 0:ww][1] * 14, 0, 65535) + rng.integers(0, 40, (hh, ww))).astype(np.uint16)
    write_png(os.path.join(IN, "gray16_ramp.png"), [g16[r].astype(">u2").tobytes() for r in range(hh)], ww, hh, 16, 0)
    add("gray16_ramp.png", "png", "16-bit gray ramp 0..650 (mode I: resized in 32 bits, clamped after)")
    trns = png_chunk(b"tRNS", struct.pack(">H", int(g16[3, 3])))
    write_png(os.path.join(IN, "gray16_trns.png"), [g16[r].astype(">u2").tobytes() for r in range(hh)], ww, hh, 16, 0,
              extra=trns)
    add("gray16_trns.png", "png", "16-bit gray with tRNS (mode I, tRNS ignored)")
    v = (pattern(ww, hh, 65).astype(np.uint16) * 257)
    trns = png_chunk(b"tRNS", struct.pack(">HHH", *[int(t) for t in v[2, 2]]))
    write_png(os.path.join(IN, "rgb16_trns.png"), [v[r].astype(">u2").tobytes() for r in range(hh)], ww, hh, 16, 2,
              extra=trns)
    add("rgb16_trns.png", "png", "16-bit RGB with a tRNS colour (mode RGB)")
    trns8 = png_chunk(b"tRNS", struct.pack(">HHH", *[int(t) for t in pattern(ww, hh, 66)[4, 4]]))
    rgb8 = pattern(ww, hh, 66)
    write_png(os.path.join(IN, "rgb8_trns.png"), [rgb8[r].tobytes() for r in range(hh)], ww, hh, 8, 2, extra=trns8)
    add("rgb8_trns.png", "png", "8-bit RGB with a tRNS colour present in the image (mode RGB)")
    a16 = (np.clip(np.mgrid[0:hh, 0:ww][1] * 65535 // (ww - 1), 0, 65535)).astype(np.uint16)
    rgba16 = np.dstack([v, a16])
    write_png(os.path.join(IN, "rgba16_ramp.png"), [rgba16[r].astype(">u2").tobytes() for r in range(hh)], ww, hh, 16, 6)
    add("rgba16_ramp.png", "png", "16-bit RGBA, alpha ramp")
    ga16 = np.dstack([v[..., 0], a16[::-1]])
    write_png(os.path.join(IN, "gray_alpha16_ramp.png"), [ga16[r].astype(">u2").tobytes() for r in range(hh)], ww, hh, 16, 4)
    add("gray_alpha16_ramp.png", "png", "16-bit gray+alpha, alpha ramp (PIL: mode RGBA)")
    # 1-bit gray PNG with tRNS
    bits = (pattern(ww, hh, 67, busy=False)[..., 0] > 128).astype(np.uint8)
    write_png(os.path.join(IN, "gray1bit_trns.png"), [pack_bits(bits[r], 1) for r in range(hh)], ww, hh, 1, 0,
              extra=png_chunk(b"tRNS", struct.pack(">H", 1)))
    add("gray1bit_trns.png", "png", "1-bit gray with tRNS (mode 1)")
    # TIFF 16-bit gray of width 32: S=32 needs no resize, so the reference can
    # handle its mode I;16 there (and nowhere else)
    save_pil(Image.fromarray((g16[:, :32] * 3).astype(np.uint16)), "gray16_32x33.tif", "tiff",
             "TIFF 16-bit gray 32x33 (mode I;16: only S=32 shortest works in native mode)")
    # GIF with a gray ramp colour table: the reference opens it as mode L
    save_pil(Image.fromarray(pattern(50, 40, 68)[..., 2], "L"), "gray_ramp.gif", "gif", "GIF with a gray ramp table (mode L)")
    # BMP with 4-bit gray ramp palette (mode L, values 0..15) and 32-bit V4 BMPs
    save_pil(Image.fromarray((pattern(50, 40, 69)[..., 0] >> 4).astype(np.uint8), "L").convert("P"), "gray4bit_pal.bmp", "bmp",
             "8-bit BMP whose palette is the gray ramp (mode L)")
    rgba_b = np.dstack([pattern(50, 40, 70), rng.integers(0, 256, (40, 50), dtype=np.uint8)])
    write_bmp_v4(os.path.join(IN, "rgba_v4_bitfields.bmp"), rgba_b, True)
    add("rgba_v4_bitfields.bmp", "bmp", "32-bit BMP, V4 header, BI_BITFIELDS BGRA (mode RGBA)")
    write_bmp_v4(os.path.join(IN, "rgba_v4_raw.bmp"), rgba_b, False)
    add("rgba_v4_raw.bmp", "bmp", "32-bit BMP, V4 header, BI_RGB (mode RGB: alpha ignored)")
    # WebP lossless with an alpha ramp
    save_pil(Image.fromarray(np.dstack([c, a]), "RGBA"), "rgba_gradient.webp", "webp", "WebP lossless, alpha ramp",
             lossless=True, exact=True)
    save_pil(Image.fromarray(np.dstack([c, a]), "RGBA"), "rgba_gradient_lossy.webp", "webp", "WebP lossy, alpha ramp",
             quality=85)
    # CMYK JPEG, busier content
    save_pil(Image.fromarray(pattern(80, 60, 71)).convert("CMYK"), "cmyk_busy.jpg", "jpeg", "CMYK JPEG, busy", quality=95)


def normalize_custom_oracle():
    """ToTensor + Normalize of every value with another mean and std (those
    of open_clip's "inception" constants), for Transform's Mean/Std."""
    v = np.arange(256, dtype=np.int64).reshape(16, 16)
    img = np.stack([v, 255 - v, (7 * v) % 256], -1).astype(np.uint8)
    t = T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))(T.ToTensor()(Image.fromarray(img))).numpy()
    np.save(os.path.join(WANT, "normalize_all_values_half.npy"), t)


TUXPAINT = "/usr/share/tuxpaint/stamps"
TUX_STAMPS = ("animals/birds/adelaide-rosella.png", "animals/birds/crow.png")


def tuxpaint_fixtures():
    """References for two RGBA Tux Paint stamps (Debian
    tuxpaint-stamps-default), which are not copied here: the S = 224 output
    of the default transform in both modes, and each stamp's SHA-256 so that
    the Go test skips a stamp that changed."""
    out = []
    for rel in TUX_STAMPS:
        path = os.path.join(TUXPAINT, rel)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        t = TRANSFORMS["d224"]
        e = {"file": rel, "sha256": digest}
        e["native"] = store(np.asarray(geometric(t)(reference_native(path)).convert("RGB")))
        e["rgb"] = store(np.asarray(geometric(t)(reference_rgb(path))))
        out.append(e)
    with open(os.path.join(OUT, "tuxpaint.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def normalize_oracle():
    v = np.arange(256, dtype=np.int64).reshape(16, 16)
    img = np.stack([v, 255 - v, (7 * v) % 256], -1).astype(np.uint8)
    t = T.Normalize(MEAN, STD)(T.ToTensor()(Image.fromarray(img))).numpy()
    assert t.dtype == np.float32 and t.shape == (3, 16, 16)
    np.save(os.path.join(WANT, "normalize_all_values.npy"), t)


def main():
    # palette_trns.png's per-entry alpha makes PIL warn on convert("RGB"); the
    # conversion (palette lookup, alpha dropped) is exactly what is wanted.
    warnings.filterwarnings("ignore", message="Palette images with Transparency")
    os.makedirs(IN, exist_ok=True)
    os.makedirs(WANT, exist_ok=True)
    for d in (IN, WANT):
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
    synthetic()
    photos()
    native_fixtures()
    build_expectations()
    normalize_oracle()
    normalize_custom_oracle()
    if os.path.isdir(TUXPAINT):
        tuxpaint_fixtures()
    else:
        print("no %s (apt-get install tuxpaint-stamps-default): Tux Paint references not rebuilt" % TUXPAINT)
    versions = {
        "python": sys.version.split()[0],
        "PIL": PIL.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"versions": versions, "sizes": list(SIZES), "transforms": TRANSFORMS, "fixtures": manifest}, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, f)) for d in (IN, WANT) for f in os.listdir(d))
    print("%d fixtures, %.0f KiB in testdata; %s" % (len(manifest), total / 1024, versions))


if __name__ == "__main__":
    main()
