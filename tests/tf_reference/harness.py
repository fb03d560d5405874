"""Runs one case of cases.py with a TF1-style module ``tf`` (TensorFlow's compat.v1 or nnctl) and returns
what was observed as plain JSON-ready data. record.py and test_tf_reference.py both use it, so the two
sides are observed the same way."""

from __future__ import annotations

from typing import Any

import numpy as np
from cases import Case


def _weights(shape: tuple, offset: float) -> np.ndarray:
    n = int(np.prod(shape)) if shape else 1
    return (0.5 + ((np.arange(n) * 3 + offset) % 7) / 7.0).reshape(shape)


def _shape(t: Any) -> Any:
    s = t.shape
    return None if s.ndims is None else [None if d is None else int(d) for d in s.as_list()]


def _value(v: Any) -> Any:
    a = np.asarray(v)
    return {"dtype": a.dtype.name, "shape": list(a.shape), "value": a.tolist()}


def _err(e: BaseException) -> str:
    return type(e).__name__


def run_case(tf: Any, case: Case) -> dict:
    g = tf.Graph()
    rec: dict[str, Any] = {"name": case.name}
    with g.as_default():
        ins, feed = [], {}
        try:
            for i, inp in enumerate(case.inputs):
                arr = inp.array()
                if inp.const:
                    t = tf.constant(arr, dtype=tf.as_dtype(inp.dtype))
                else:
                    t = tf.placeholder(tf.as_dtype(inp.dtype), inp.static_shape(), name=f"in{i}")
                    feed[t] = arr
                ins.append(t)
            out = case.fn(tf, *ins)
            train_op = None
            if case.train_steps:
                out, train_op = out
        except Exception as e:  # noqa: BLE001 - the error class is the observation
            rec["build_error"] = _err(e)
            return rec
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        rec["outs"] = [{"dtype": o.dtype.name, "static_shape": _shape(o)} for o in outs]
        rec["names"] = [[o.name, o.op.type] for o in outs]
        sess = tf.Session(graph=g)
        try:
            if tf.global_variables():
                sess.run(tf.global_variables_initializer())
            for _ in range(case.train_steps):
                sess.run(train_op, feed)
            vals = sess.run(outs, feed)
        except Exception as e:  # noqa: BLE001
            rec["run_error"] = _err(e)
            return rec
        for r, v in zip(rec["outs"], vals):
            r.update(_value(v))
        if not case.grad:
            return rec
        xs = [t for t, inp in zip(ins, case.inputs) if np.dtype(inp.dtype).kind == "f"]
        terms = [tf.reduce_sum(o * tf.constant(_weights(np.shape(v), k), dtype=o.dtype))
                 for k, (o, v) in enumerate(zip(outs, vals)) if o.dtype.is_floating]
        if not xs or not terms:
            return rec
        try:
            f = terms[0] if len(terms) == 1 else tf.add_n(terms)
            grads = tf.gradients(f, xs)
        except Exception as e:  # noqa: BLE001
            rec["grad_error"] = _err(e)
            return rec
        # TF hands gather's gradient over as IndexedSlices: compare it dense
        grads = [gr if gr is None or type(gr).__name__ != "IndexedSlices" else tf.convert_to_tensor(gr)
                 for gr in grads]
        present = [gr for gr in grads if gr is not None]
        try:
            gvals = sess.run(present, feed)
        except Exception as e:  # noqa: BLE001
            rec["grad_error"] = "run " + _err(e)
            return rec
        it = iter(gvals)
        rec["grads"] = [None if gr is None else {"static_shape": _shape(gr), **_value(next(it))} for gr in grads]
        if not case.order2 or not present:
            return rec
        try:
            gdotu = tf.add_n([tf.reduce_sum(gr * tf.constant(_weights(np.shape(v), 5 + k), dtype=gr.dtype))
                              for k, (gr, v) in enumerate(zip(present, gvals))])
            hvps = tf.gradients(gdotu, xs)
        except Exception as e:  # noqa: BLE001
            rec["hvp_error"] = _err(e)
            return rec
        hvps = [h if h is None or type(h).__name__ != "IndexedSlices" else tf.convert_to_tensor(h) for h in hvps]
        hpresent = [h for h in hvps if h is not None]
        try:
            hvals = sess.run(hpresent, feed)
        except Exception as e:  # noqa: BLE001
            rec["hvp_error"] = "run " + _err(e)
            return rec
        it = iter(hvals)
        rec["hvps"] = [None if h is None else _value(next(it)) for h in hvps]
    return rec
