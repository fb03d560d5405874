"""tf.einsum against numpy's and torch's einsum, and its errors (the gradients are in grad_rows_math)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnctl as tf

_r = np.random.default_rng(3)

CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(6,), (6,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->ji", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("ba,ca", [(3, 4), (2, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("b...d,bd->b...", [(2, 3, 4, 5), (2, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
]


@pytest.mark.parametrize("eq,shapes", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_einsum_matches_numpy_and_torch(eq, shapes, dtype):
    vals = [_r.standard_normal(s).astype(dtype) for s in shapes]
    g = tf.Graph()
    with g.as_default():
        out = tf.einsum(eq, *[tf.constant(v) for v in vals])
        got = tf.Session(graph=g).run(out)
    ref = np.einsum(eq, *vals)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert got.dtype == dtype and got.shape == ref.shape == tuple(out.get_shape().as_list())
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(got, torch.einsum(eq, *[torch.from_numpy(v) for v in vals]).numpy(),
                               rtol=tol, atol=tol)


def test_einsum_gradient_matches_torch():
    a, b = _r.standard_normal((2, 3, 4)), _r.standard_normal((4, 5))
    g = tf.Graph()
    with g.as_default():
        x, y = tf.constant(a), tf.constant(b)
        loss = tf.reduce_sum(tf.square(tf.einsum("...ij,jk->...ik", x, y)))
        ga, gb = tf.Session(graph=g).run(tf.gradients(loss, [x, y]))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    torch.einsum("...ij,jk->...ik", ta, tb).square().sum().backward()
    np.testing.assert_allclose(ga, ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("eq,shapes,msg", [
    ("ij,jk->ik", [(2, 3), (4, 5)], r"einsum 'ij,jk->ik'.*'j' has size 3 .* and 4"),
    ("ij,jk->ik", [(2, 3)], r"names 2 operand\(s\) but 1"),
    ("ijk->i", [(2, 3)], r"'ijk->i' with operand shapes \[\(2, 3\)\].*name 3 dimension\(s\) but .* rank 2"),
    ("ij->iz", [(2, 3)], r"'z'.* occur in no operand"),
    ("ij->ii", [(2, 2)], r"name a letter twice"),
    ("i1->i", [(2, 2)], r"only letters"),
    ("ij->i->j", [(2, 2)], r"more than one '->'"),
])
def test_einsum_bad_input_names_the_equation_and_shapes(eq, shapes, msg):
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match=msg):
            tf.einsum(eq, *[tf.constant(np.ones(s)) for s in shapes])


def test_einsum_gradient_through_a_diagonal_is_a_clear_error():
    with tf.Graph().as_default():
        x = tf.constant(np.ones((3, 3)))
        with pytest.raises(ValueError, match=r"einsum 'ii->i'.*repeat a letter"):
            tf.gradients(tf.reduce_sum(tf.einsum("ii->i", x)), [x])
