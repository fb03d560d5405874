"""Running a program's bound plan with and without a plan optimization (fused chains, subgraph
kernels), for tests that check an optimization keeps the ops' bits."""

from __future__ import annotations

import numpy as np

import nnctl as tf


def bound_runs(build, feeds, monkeypatch, off, trains=False):
    """(bound values with the optimizations, their plan's step op types, the step op types without
    them). ``build()`` returns (placeholders, fetches); ``off``: modules whose ``available`` is made
    False for the second binding. Asserts the values equal those without the optimizations and
    (``trains`` False: every run computes the same) those of the allocating first run."""
    results = []
    for on in (True, False):
        with monkeypatch.context() as m:
            if not on:
                for module in off:
                    m.setattr(module, "available", lambda backend: False)
            with tf.Graph().as_default():
                phs, fetches = build()
                feed = dict(zip(phs, feeds))
                with tf.Session() as sess:
                    sess.run(tf.global_variables_initializer())
                    sess.allocating = True
                    first = sess.run(fetches, feed)
                    sess.allocating = False
                    sess.run(fetches, feed)
                    bound = sess.run(fetches, feed)
                    plan = max(sess._plans.values(), key=lambda p: len(p.steps or ()))
                    types = [op.type for op in plan._step_ops]
            results.append((bound, types, first))
    (ob, otypes, ofirst), (ub, utypes, _) = results
    for a, b, c in zip(ob, ub, ofirst):
        np.testing.assert_array_equal(a, b)  # optimized == the ops one by one
        if not trains:
            np.testing.assert_array_equal(a, c)  # == the allocating first run
    return ob, otypes, utypes
