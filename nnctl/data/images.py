"""Images: folders of class sub-folders, decoding with Pillow, and seeded augmentation.

Decoding happens once: :func:`decode_images` keeps every decoded image in a process-wide cache
keyed by (path, size, modification time, transform), so validation, test and a second load of the
same files reuse the pixels, and an epoch is a slice of one array rather than a pass over files.
The run directory stores the decoded arrays too (nnctl/data/run_data.py), so ``eval`` and
``freeze`` need none of the files.

Augmentation (random crop after zero padding, horizontal flip, small rotation) runs per training
batch on a generator seeded with (seed, step): the checkpointed step is its whole state, so a
resumed run draws exactly the augmentations of an uninterrupted one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.data.features import COLORS, IMAGE_EXTENSIONS
from nnctl.errors import DataError

_CACHE: dict[tuple, np.ndarray] = {}
_CACHE_LIMIT = 512 * 2**20  # bytes of decoded pixels kept between loads


def _open(path: Path, where: str) -> Any:
    from PIL import Image, UnidentifiedImageError
    if not path.is_file():
        raise DataError(f"{where}: image file not found: {path}")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{where}: {path} is not an image Pillow can read ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else 'unreadable'})") from None
    except Image.DecompressionBombError as e:
        raise DataError(f"{where}: {path}: image too large ({e})") from None
    return img


def probe(path: Path, where: str) -> tuple[tuple[int, int], str]:
    """((height, width), color) of one image: the defaults for size and color."""
    img = _open(path, where)
    color = "grayscale" if img.mode in ("1", "L", "I", "I;16", "F") or (
        img.mode == "P" and _palette_is_gray(img)) else "rgb"
    return (img.height, img.width), color


def _palette_is_gray(img: Any) -> bool:
    rgb = np.asarray(img.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def decode_one(path: Path, options: dict[str, Any], where: str) -> np.ndarray:
    """float32 [h, w, c] of one image: converted to the color mode, resized, multiplied by scale."""
    from PIL import Image
    h, w = (int(v) for v in options["size"])
    color = options["color"]
    if color not in COLORS:
        raise DataError(f"{where}: image color must be one of {', '.join(COLORS)}, got {color!r}")
    st = path.stat() if path.is_file() else None
    key = (str(path), st.st_size if st else -1, st.st_mtime_ns if st else -1, h, w, color, float(options["scale"]))
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    img = _open(path, where)
    img = img.convert("L" if color == "grayscale" else "RGB")
    if img.size != (w, h):
        img = img.resize((w, h), Image.BILINEAR)
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    a = a * np.float32(options["scale"])
    a.setflags(write=False)
    if sum(v.nbytes for v in _CACHE.values()) + a.nbytes <= _CACHE_LIMIT:
        _CACHE[key] = a
    return a


def decode_images(paths: list[Path], options: dict[str, Any], wheres: list[str]) -> np.ndarray:
    h, w = (int(v) for v in options["size"])
    c = 1 if options["color"] == "grayscale" else 3
    out = np.empty((len(paths), h, w, c), np.float32)
    for i, p in enumerate(paths):
        out[i] = decode_one(p, options, wheres[i])
    return out


def list_image_folder(root: Path, where: str) -> tuple[list[Path], list[str]]:
    """Image files under ``root``/<class>/ (sorted) and their class (the sub-folder's name)."""
    if not root.is_dir():
        raise DataError(f"{where}: {root} is not a folder of class sub-folders")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 1:
        raise DataError(f"{where}: {root} has no class sub-folders (expected {root}/<class>/<image>.png ...)")
    paths: list[Path] = []
    labels: list[str] = []
    for c in classes:
        files = sorted(f for f in (root / c).rglob("*") if f.is_file() and not f.name.startswith("."))
        for f in files:
            if f.suffix.lower() not in IMAGE_EXTENSIONS:
                raise DataError(f"{where}: {f} is not an image file (expected {', '.join(IMAGE_EXTENSIONS)})")
            paths.append(f)
            labels.append(c)
    if not paths:
        raise DataError(f"{where}: {root} holds no image files")
    return paths, labels


def image_inputs(sources: list[str | os.PathLike]) -> list[Path]:
    """Image files from a mix of folders (every image inside, recursively, sorted) and files."""
    out: list[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                raise DataError(f"{p}: folder holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
            out.extend(files)
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"{p}: no such image file or folder")
    return out


# --- augmentation -------------------------------------------------------------------------------

def check_augment(aug: dict[str, Any] | None) -> None:
    if aug is None:
        return
    crop, flip, rot = aug.get("crop", 0), aug.get("flip", False), aug.get("rotate", 0)
    if not isinstance(crop, int) or crop < 0 or not isinstance(flip, bool) or not isinstance(rot, (int, float)):
        raise DataError(f"image augment: bad options {aug!r}")


def augment(x: np.ndarray, aug: dict[str, Any], seed: int, step: int) -> np.ndarray:
    """A batch [n, h, w, c] with random crop (after zero padding by ``crop`` pixels), horizontal
    flip and rotation by up to ``rotate`` degrees, drawn from PCG64(seed, step)."""
    rng = np.random.Generator(np.random.PCG64([int(seed), int(step)]))
    n, h, w, c = x.shape
    out = np.array(x, copy=True)
    rot = float(aug.get("rotate", 0) or 0)
    if rot:
        from PIL import Image
        angles = rng.uniform(-rot, rot, size=n)
        for i in range(n):
            for k in range(c):
                img = Image.fromarray(out[i, :, :, k], mode="F")
                out[i, :, :, k] = np.asarray(img.rotate(float(angles[i]), resample=Image.BILINEAR), np.float32)
    pad = int(aug.get("crop", 0) or 0)
    if pad:
        padded = np.zeros((n, h + 2 * pad, w + 2 * pad, c), np.float32)
        padded[:, pad:pad + h, pad:pad + w] = out
        dy = rng.integers(0, 2 * pad + 1, size=n)
        dx = rng.integers(0, 2 * pad + 1, size=n)
        for i in range(n):
            out[i] = padded[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
    if aug.get("flip"):
        flip = rng.random(n) < 0.5
        out[flip] = out[flip, :, ::-1]
    return out
