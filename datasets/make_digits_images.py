"""Writes the digits data (datasets/digits.csv.gz) as a folder of 8x8 grayscale PNG files.

    python datasets/make_digits_images.py [OUT]      (default: datasets/digits-images)

One sub-folder per class (OUT/0/ ... OUT/9/), one file per row (OUT/<label>/<row>.png), pixel
value v in 0..16 stored as min(255, 16 v). configs/digits-images.yaml trains from this folder;
the tests write it to a temporary folder with :func:`write_digits_images`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def write_digits_images(out: Path, limit: int | None = None) -> int:
    """Write the PNG folder; returns the number of images written."""
    from PIL import Image

    from nnctl.data import load_csv
    x, y, _ = load_csv(HERE / "digits.csv.gz", labels=["label"])
    n = len(x) if limit is None else min(limit, len(x))
    for k in range(10):
        (out / str(k)).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = np.minimum(x[i].reshape(8, 8) * 16, 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(out / str(int(y[i])) / f"{i:04d}.png")
    return n


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "digits-images"
    print(f"wrote {write_digits_images(target)} images to {target}")
