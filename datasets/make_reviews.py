"""Writes datasets/reviews.csv: 800 short product reviews labelled positive/negative.

Sentences are assembled from word lists with a fixed seed (numpy PCG64(7)), so rerunning this
script gives identical bytes. Each review mixes sentiment words with neutral filler and product
names, and 10% carry one word of the opposite sentiment, so a bag-of-words model must weigh words
rather than match one. Written for nnctl; CC0.

    python datasets/make_reviews.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

POSITIVE = ["great", "excellent", "love", "perfect", "wonderful", "sturdy", "reliable", "fast", "comfortable",
            "recommend", "happy", "beautiful", "works", "brilliant", "solid", "bargain"]
NEGATIVE = ["terrible", "broke", "awful", "disappointed", "refund", "cheap", "slow", "useless", "flimsy",
            "returned", "waste", "poor", "leaks", "noisy", "faulty", "worst"]
PRODUCTS = ["kettle", "lamp", "backpack", "headphones", "chair", "blender", "jacket", "keyboard", "tent", "mug"]
FILLER = ["the", "it", "is", "was", "this", "my", "after", "a", "week", "and", "very", "really", "for", "price",
          "quality", "delivery", "box", "came", "with", "use", "daily", "i", "bought", "one"]


def review(rng: np.random.Generator, positive: bool) -> str:
    own, other = (POSITIVE, NEGATIVE) if positive else (NEGATIVE, POSITIVE)
    words = list(rng.choice(FILLER, size=rng.integers(4, 9)))
    words += list(rng.choice(own, size=rng.integers(2, 4), replace=False))
    words.append(str(rng.choice(PRODUCTS)))
    if rng.random() < 0.1:
        words.append(str(rng.choice(other)))
    rng.shuffle(words)
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice([".", "!", "...", ""])


def main() -> None:
    rng = np.random.Generator(np.random.PCG64(7))
    out = Path(__file__).with_name("reviews.csv")
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["review", "sentiment"])
        for _ in range(800):
            pos = bool(rng.random() < 0.5)
            w.writerow([review(rng, pos), "positive" if pos else "negative"])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
