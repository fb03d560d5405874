"""The shipped 8x8 digits (datasets/digits.csv.gz) the way the MNIST tutorials' input_data gave them:
float images in [0, 1], one-hot labels, a fixed train/test split, and next_batch()."""

import gzip
import os

import numpy as np

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "datasets", "digits.csv.gz")


class DataSet:
    def __init__(self, images, labels):
        self.images, self.labels = images, labels
        self._pos = 0

    @property
    def num_examples(self):
        return len(self.images)

    def next_batch(self, n):
        if self._pos + n > len(self.images):
            self._pos = 0
        s = slice(self._pos, self._pos + n)
        self._pos += n
        return self.images[s], self.labels[s]


class Digits:
    def __init__(self, train, test):
        self.train, self.test = train, test


def read_data_sets(one_hot=True, n_test=300):
    with gzip.open(_PATH, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", skiprows=1)
    x = (raw[:, :64] / 16.0).astype(np.float32)
    y = raw[:, 64].astype(np.int64)
    order = np.random.RandomState(0).permutation(len(x))
    x, y = x[order], y[order]
    if one_hot:
        y = np.eye(10, dtype=np.float32)[y]
    return Digits(DataSet(x[n_test:], y[n_test:]), DataSet(x[:n_test], y[:n_test]))
