"""The plan compiler: a (fetches, feeds, feed shapes) signature -> a flat list of kernel calls.

Compilation:

1. prune to the ops the fetches need (stopping at fed tensors) and order them topologically, with an
   edge from every reader of a variable to every op that writes it in place, so a step reads the
   values from before its updates (TF2's automatic control dependencies);
2. merge common subexpressions (same op type, inputs and attributes; never stateful ops);
3. *trace*: the first run executes every kernel in allocating mode, which checks dtypes and static
   shapes and records the concrete shape of every tensor;
4. *bind*: constant subgraphs are folded to their traced values; view ops (reshape, transpose,
   identity ...) become aliases that cost nothing at run time; every other output gets a buffer
   from a pool, reused by liveness (freed after its last consumer) or written in place over a dying
   input where the kernel allows it. Each step becomes ``partial(fn, *input_buffers, out=buffer)``.

Later runs copy the feeds into their buffers and call the steps: no graph walk, no allocation.
"""

from __future__ import annotations

import heapq
from functools import partial
from typing import Any

from nnctl.errors import InternalError, InvalidArgumentError, NonFiniteError, OpError
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.graph.tensor_shape import fmt_shape, shapes_compatible
from nnctl.runtime import parallel
from nnctl.runtime.context import RuntimeContext, ShadowContext, Uninitialized, uninitialized_error

_PINNED = 1 << 60


def _freeze_attr(v: Any) -> Any:
    """A hashable form of an attribute value, or raise TypeError if it has none worth hashing."""
    if isinstance(v, (list, tuple)):
        return tuple(_freeze_attr(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze_attr(x)) for k, x in v.items()))
    if hasattr(v, "tobytes") and hasattr(v, "shape"):
        if v.size > 64:
            raise TypeError("large array attr")
        return (v.dtype.str, v.shape, v.tobytes())
    hash(v)
    return v


class Plan:
    def __init__(self, ctx: RuntimeContext, fetches: list[Tensor], targets: list[Operation],
                 feeds: list[Tensor]) -> None:
        self.ctx = ctx
        self.feeds = feeds
        self._kernels: dict[int, Any] = {}
        fed = {id(t) for t in feeds}
        order = _schedule(fetches, targets, fed)
        self.alias: dict[int, Tensor] = {}
        self.order = self._cse(order)
        self.fetches = [self.alias.get(id(t), t) for t in fetches]
        for op in self.order:
            if op.type == "Placeholder":
                for t in op.outputs:
                    if id(t) not in fed:
                        raise InvalidArgumentError(
                            None, op, f"You must feed a value for placeholder tensor '{op.name}' with dtype "
                                      f"{t.dtype.name} and shape {fmt_shape(t.static_shape)}")
        self.steps: list[Any] | None = None
        self.bound_version = -1
        self.feed_bufs: list[Any] = []
        self.fetch_bufs: list[Any] = []
        self.fetch_fns: list[Any] = []
        self.slots: list[int] | None = None

    # --- compile-time passes ---------------------------------------------------------------
    def _cse(self, order: list[Operation]) -> list[Operation]:
        seen: dict[Any, Operation] = {}
        out = []
        for op in order:
            d = registry.op_def(op.type)
            if d is not None and not d.stateful and d.kernel is not None and op.type != "Placeholder":
                try:
                    key = (op.type, tuple(id(self.alias.get(id(t), t)) for t in op.inputs),
                           _freeze_attr(op.attrs), tuple(id(c) for c in op.control_inputs))
                except TypeError:
                    key = None
                if key is not None:
                    prev = seen.get(key)
                    if prev is not None and len(prev.outputs) == len(op.outputs):
                        for a, b in zip(op.outputs, prev.outputs):
                            self.alias[id(a)] = self.alias.get(id(b), b)
                        continue
                    seen[key] = op
            out.append(op)
        return out

    def _inputs(self, op: Operation) -> list[Tensor]:
        al = self.alias
        return [al.get(id(t), t) for t in op.inputs]

    def kernel(self, op: Operation) -> Any:
        fn = self._kernels.get(id(op))
        if fn is None:
            fn = self._kernels[id(op)] = self._make_kernel(op, self.ctx)
        return fn

    @staticmethod
    def _make_kernel(op: Operation, ctx: Any) -> Any:
        d = registry.op_def(op.type)
        factory = ctx.backend.kernel_overrides.get(op.type) or (d.kernel if d else None)
        if factory is None:
            raise InternalError(None, op, f"no kernel registered for op type {op.type} ('{op.name}')")
        return factory(op, ctx)

    # --- execution -------------------------------------------------------------------------
    def run(self, feed_values: list[Any], check_numerics: bool = False, download: bool = True,
            allocating: bool = False) -> list[Any]:
        if check_numerics or allocating:
            return self._trace(feed_values, check_numerics, self.ctx, download)[0]
        if self.bound_version != self.ctx.variables.version:
            # Compile with a dry run on copies of the state, so that every real execution takes the
            # bound path and a resumed run computes bit-identically to an uninterrupted one.
            shadow = ShadowContext(self.ctx)
            try:
                info, constvals = self._trace(feed_values, False, shadow)[1:]
            except _NeedsInit:
                return self._trace(feed_values, False, self.ctx, download)[0]
            self._bind(info, constvals)
        be = self.ctx.backend
        device_type = be.array_type
        for buf, v in zip(self.feed_bufs, feed_values):
            if isinstance(v, device_type):
                be.copyto(buf, v)
            else:
                be.upload(v, out=buf)   # host feed -> its bound device buffer, one copy
        i = 0
        steps = self.steps
        try:
            for s in steps:
                s()
                i += 1
        except OpError:
            raise
        except Exception as e:
            op = self._step_ops[i]
            raise _op_failure(op, e) from None
        if not download:
            return [b.copy() for b in self.fetch_bufs]
        return [f() for f in self.fetch_fns]

    def _trace(self, feed_values: list[Any], check_numerics: bool, ctx: Any,
               download: bool = True) -> tuple[list[Any], dict, dict]:
        """Run every kernel in allocating mode, checking dtypes and shapes; record what bind needs.

        With a ShadowContext nothing real changes: variables and random streams are copies."""
        dry = ctx is not self.ctx
        kernels: dict[int, Any] = {} if dry else self._kernels
        vals: dict[int, Any] = {}
        be = self.ctx.backend
        device_type = be.array_type
        for t, v in zip(self.feeds, feed_values):
            vals[id(t)] = v if isinstance(v, device_type) else be.upload(v)
        info: dict[int, tuple] = {id(t): (tuple(v.shape), v.dtype) for t, v in zip(self.feeds, feed_values)}
        constvals: dict[int, Any] = {}
        remaining = dict(self._consumer_counts())
        keep = {id(t) for t in self.fetches}
        for op in self.order:
            ins_t = self._inputs(op)
            ins = [vals[id(t)] for t in ins_t]
            for i, v in enumerate(ins):
                if isinstance(v, Uninitialized):
                    if not (i == 0 and op.type == "Assign"):
                        raise uninitialized_error(op, v.name)
                    if dry:
                        raise _NeedsInit()
            d = registry.op_def(op.type)
            is_const = (d is not None and not d.stateful and op.type != "Placeholder"
                        and all(id(t) in constvals for i, t in enumerate(ins_t) if i not in d.shape_inputs))
            fn = kernels.get(id(op))
            if fn is None:
                fn = kernels[id(op)] = self._make_kernel(op, ctx)
            try:
                if len(op.outputs) == 1 and op.outputs[0].static_shape == () and d is not None and d.out_ok \
                        and not d.view and ins and all(getattr(v, "ndim", None) == 0 for v in ins):
                    # 0-d operands: numpy ufuncs return scalars, which the kernels' chained out= cannot
                    # take, so the output gets a real 0-d array as on the bound path
                    res = fn(*ins, out=self.ctx.xp.empty((), dtype=op.outputs[0].dtype.np))
                else:
                    res = fn(*ins)
            except OpError:
                raise
            except Exception as e:
                raise _op_failure(op, e) from None
            outs = op.outputs
            if len(outs) == 1:
                res = (res,)
            elif not outs:
                res = ()
            for t, v in zip(outs, res):
                if isinstance(v, Uninitialized):
                    vals[id(t)] = v
                    continue
                if not isinstance(v, device_type):
                    raise InternalError(None, op, f"{op.type} '{op.name}' returned a {type(v).__module__}."
                                                  f"{type(v).__name__}, not an array of the {be.name} backend "
                                                  "): its kernel leaks a host value")
                if v.dtype != t.dtype.np:
                    raise InternalError(None, op, f"{op.type} '{op.name}' produced {v.dtype} where the graph "
                                                  f"says {t.dtype.name}")
                if not shapes_compatible(t.static_shape, v.shape):
                    raise InternalError(None, op, f"{op.type} '{op.name}' produced shape {fmt_shape(v.shape)} "
                                                  f"where the graph says {fmt_shape(t.static_shape)}")
                if check_numerics and t.dtype.is_floating and not bool(self.ctx.xp.isfinite(v).all()):
                    raise _nonfinite(op, ins, self.ctx.backend)
                vals[id(t)] = v
                info[id(t)] = (tuple(v.shape), v.dtype)
                if is_const:
                    constvals[id(t)] = v
            for t in ins_t:  # free what no later op needs (keeps the first run's memory low)
                remaining[id(t)] -= 1
                if remaining[id(t)] == 0 and id(t) not in keep:
                    vals.pop(id(t), None)
        out = []
        for t in self.fetches:
            v = vals.get(id(t))
            if v is None or isinstance(v, Uninitialized):
                out.append(None)
            else:
                out.append(self._host_copy(v) if download else v.copy())
        return out, info, constvals

    def _parallel(self, op: Operation, d: Any, in_bufs: list[Any], out: Any, shape: tuple) -> Any:
        """A multi-threaded step for a large elementwise op, or None (see runtime/parallel.py)."""
        if d is None or not d.elementwise or not self.ctx.backend.host_memory or not shape or shape[0] < 2:
            return None
        size = 1
        for s in shape:
            size *= s
        n = parallel.num_threads()
        if n < 2 or size < parallel.MIN_ELEMENTS:
            return None
        split = [b.ndim == len(shape) and b.shape[0] == shape[0] for b in in_bufs]

        def make_step(lo: int, hi: int) -> Any:
            fn = self._make_kernel(op, self.ctx)  # an instance per block: scratch buffers are not shared
            ins = [b[lo:hi] if sp else b for b, sp in zip(in_bufs, split)]
            binder = getattr(fn, "bind", None)
            if out is None:
                return binder(*ins) if binder is not None else partial(fn, *ins)
            o = out[lo:hi]
            if binder is not None:
                return binder(*ins, out=o)
            return partial(fn, *ins, out=o)
        return parallel.split_step(make_step, shape[0], n)

    def _host_copy(self, v: Any) -> Any:
        h = self.ctx.backend.to_host(v)
        return h[()] if h.ndim == 0 else h.copy()

    def _fetcher(self, buf: Any) -> Any:
        """A zero-argument function returning a host copy of ``buf`` (a numpy scalar for 0-d)."""
        if not self.ctx.backend.host_memory:
            return partial(self._host_copy, buf)
        if buf.ndim == 0:
            return partial(buf.__getitem__, ())
        return buf.copy

    def _consumer_counts(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for op in self.order:
            for t in self._inputs(op):
                counts[id(t)] = counts.get(id(t), 0) + 1
        return counts

    def _bind(self, info: dict[int, tuple], constvals: dict[int, Any]) -> None:
        """Assign buffers and build the step list from the traced run (see the module docstring)."""
        xp = self.ctx.xp
        be = self.ctx.backend
        bufs: dict[int, Any] = {}
        base_of: dict[int, int] = {}          # tensor id -> base buffer key
        refcount: dict[int, int] = {}         # base key -> remaining consumers
        base_arr: dict[int, Any] = {}         # base key -> the owning pool array (flat)
        pool: dict[tuple, list[Any]] = {}     # (dtype, size) -> free flat arrays
        const: set[int] = set()
        steps: list[Any] = []
        step_ops: list[Operation] = []
        next_key = [0]

        def new_base(pinned: bool) -> int:
            next_key[0] += 1
            refcount[next_key[0]] = _PINNED if pinned else 0
            return next_key[0]

        consumers = self._consumer_counts()
        fetch_ids = {id(t) for t in self.fetches}

        def alloc(shape: tuple, dtype: Any) -> tuple[Any, int]:
            size = 1
            for s in shape:
                size *= s
            lst = pool.get((dtype, size))
            flat = lst.pop() if lst else xp.empty(size, dtype=dtype)
            key = new_base(False)
            base_arr[key] = flat
            return flat.reshape(shape), key

        def release(t: Tensor) -> None:
            key = base_of.get(id(t))
            if key is None:
                return
            refcount[key] -= 1
            if refcount[key] == 0 and key in base_arr:
                flat = base_arr.pop(key)
                pool.setdefault((flat.dtype, flat.size), []).append(flat)

        def attach(t: Tensor, key: int) -> None:
            base_of[id(t)] = key
            refcount[key] += consumers.get(id(t), 0) + (_PINNED if id(t) in fetch_ids else 0)

        self.feed_bufs = []
        for t in self.feeds:
            shape, dtype = info[id(t)]
            buf = be.empty(shape, dtype)
            self.feed_bufs.append(buf)
            bufs[id(t)] = buf
            attach(t, new_base(True))

        for op in self.order:
            d = registry.op_def(op.type)
            ins = self._inputs(op)
            in_bufs = [bufs[id(t)] for t in ins]
            outs = op.outputs
            if outs and all(id(t) in constvals for t in outs):
                for t in outs:
                    bufs[id(t)] = constvals[id(t)]
                    const.add(id(t))
                    attach(t, new_base(True))
            elif d is not None and d.view:
                v = self.kernel(op)(*in_bufs)
                t = outs[0]
                src = ins[0] if ins else None
                if src is not None and id(src) in base_of and be.may_share_memory(v, in_bufs[0]):
                    bufs[id(t)] = v
                    attach(t, base_of[id(src)])
                    if id(src) in const:
                        const.add(id(t))
                elif src is None:  # a variable read: the store's array itself
                    bufs[id(t)] = v
                    attach(t, new_base(True))
                else:  # this time it could not alias (e.g. reshape of a transposed array)
                    shape, dtype = info[id(t)]
                    buf, key = alloc(shape, dtype)
                    binder = getattr(self.kernel(op), "bind", None)
                    if binder is not None:
                        steps.append(binder(*in_bufs, out=buf))
                    elif d.out_ok:
                        steps.append(partial(self.kernel(op), *in_bufs, out=buf))
                    else:
                        steps.append(partial(_copy_from, xp.copyto, self.kernel(op), buf, in_bufs))
                    step_ops.append(op)
                    bufs[id(t)] = buf
                    attach(t, key)
            elif (j := _identity_input(op, ins, constvals, info)) is not None:
                # x * 1, x / 1, x + 0, x - 0 with a folded constant: the output is x itself
                bufs[id(outs[0])] = in_bufs[j]
                attach(outs[0], base_of[id(ins[j])])
                if id(ins[j]) in const:
                    const.add(id(outs[0]))
            elif d is not None and d.mutates is not None:
                fn = self.kernel(op)
                binder = getattr(fn, "bind", None)
                par = self._parallel(op, d, in_bufs, None, in_bufs[d.mutates].shape)
                steps.append(par or (binder(*in_bufs) if binder is not None else partial(fn, *in_bufs)))
                step_ops.append(op)
                if outs:
                    ref = ins[d.mutates]
                    bufs[id(outs[0])] = in_bufs[d.mutates]
                    attach(outs[0], base_of[id(ref)])
            elif not outs:
                if d is not None and d.kernel is not None and op.type != "NoOp":
                    steps.append(partial(self.kernel(op), *in_bufs))
                    step_ops.append(op)
            else:
                out_bufs = []
                for i, t in enumerate(outs):
                    shape, dtype = info[id(t)]
                    reuse = None
                    if i == 0 and d is not None:
                        for j in d.inplace:
                            if j >= len(ins):
                                continue
                            src = ins[j]
                            key = base_of.get(id(src))
                            if (key is not None and key in base_arr and refcount[key] == 1
                                    and id(src) not in const and in_bufs[j].shape == shape
                                    and in_bufs[j].dtype == dtype and in_bufs[j].flags.c_contiguous
                                    and sum(1 for u in ins if base_of.get(id(u)) == key) == 1):
                                reuse = (in_bufs[j], key)
                                break
                    if reuse is not None:
                        buf, key = reuse
                    else:
                        buf, key = alloc(shape, dtype)
                    out_bufs.append(buf)
                    bufs[id(t)] = buf
                    attach(t, key)
                fn = self.kernel(op)
                out_arg = out_bufs[0] if len(out_bufs) == 1 else tuple(out_bufs)
                binder = getattr(fn, "bind", None)
                par = self._parallel(op, d, in_bufs, out_arg, out_bufs[0].shape) if len(out_bufs) == 1 else None
                if par is not None:
                    steps.append(par)
                elif binder is not None:
                    steps.append(binder(*in_bufs, out=out_arg))
                elif d is not None and not d.out_ok:
                    steps.append(partial(_copy_from_multi, xp.copyto, fn, out_bufs, in_bufs))
                else:
                    steps.append(partial(fn, *in_bufs, out=out_arg))
                step_ops.append(op)
            for t in ins:
                release(t)
            for t in outs:  # outputs nobody consumes (and nobody fetches) die at once
                if consumers.get(id(t), 0) == 0 and id(t) not in fetch_ids:
                    key = base_of.get(id(t))
                    if key is not None and refcount.get(key) == 0 and key in base_arr:
                        flat = base_arr.pop(key)
                        pool.setdefault((flat.dtype, flat.size), []).append(flat)

        self.steps = steps
        self._step_ops = step_ops
        self.fetch_bufs = [bufs.get(id(t)) for t in self.fetches]
        self.fetch_fns = [self._fetcher(b) for b in self.fetch_bufs]
        self.bound_version = self.ctx.variables.version


_IDENTITY_CONST = {"Mul": ((0, 1), (1, 0)), "RealDiv": ((0, 1),), "AddV2": ((0, 1), (1, 0)),
                   "Add": ((0, 1), (1, 0)), "Sub": ((0, 1),)}


def _identity_input(op: Operation, ins: list[Tensor], constvals: dict[int, Any], info: dict[int, tuple]
                    ) -> int | None:
    """Index of the input that ``op`` passes through unchanged, if its other operand is a constant
    1 (Mul, RealDiv) or 0 (Add, Sub) that does not change the shape."""
    rule = _IDENTITY_CONST.get(op.type)
    if rule is None:
        return None
    unit = 1 if op.type in ("Mul", "RealDiv") else 0
    out_shape = info.get(id(op.outputs[0]))
    for keep, cst in rule:
        c = constvals.get(id(ins[cst]))
        if c is None:
            continue
        if info.get(id(ins[keep])) != out_shape:
            continue
        if c.size and bool((c == unit).all()):
            return keep
    return None


class _NeedsInit(Exception):
    """The dry run met a variable that this very plan initializes: run it for real instead."""


def _copy_from(copyto: Any, fn: Any, out: Any, in_bufs: list[Any]) -> None:
    copyto(out, fn(*in_bufs))


def _copy_from_multi(copyto: Any, fn: Any, outs: list[Any], in_bufs: list[Any]) -> None:
    res = fn(*in_bufs)
    if len(outs) == 1:
        copyto(outs[0], res)
    else:
        for o, r in zip(outs, res):
            copyto(o, r)


def _op_failure(op: Operation, e: Exception) -> OpError:
    shapes = ", ".join(f"{t.name} {fmt_shape(t.static_shape)}" for t in op.inputs)
    cls = InvalidArgumentError if isinstance(e, (ValueError, IndexError, TypeError)) else InternalError
    return cls(None, op, f"{op.type} '{op.name}' failed: {e} (inputs: {shapes})")


def _nonfinite(op: Operation, ins: list[Any], backend: Any) -> NonFiniteError:
    import numpy as np
    parts = []
    for t, v in zip(op.inputs, ins):
        try:
            a = np.asarray(backend.to_host(v), dtype=np.float64)   # the error path: one download per input
            parts.append(f"{t.name} {fmt_shape(a.shape)} range [{np.nanmin(a):.4g}, {np.nanmax(a):.4g}]"
                         + (" (has non-finite)" if not np.isfinite(a).all() else ""))
        except (TypeError, ValueError):
            parts.append(f"{t.name}")
    return NonFiniteError(f"op '{op.name}' (type {op.type}) produced a non-finite value; inputs: "
                          + ("; ".join(parts) if parts else "none"))


def _schedule(fetches: list[Tensor], targets: list[Operation], fed: set[int]) -> list[Operation]:
    """The ops needed for ``fetches``/``targets``, topologically ordered (ties by creation order)."""
    needed: dict[int, Operation] = {}
    stack = [t.op for t in fetches if id(t) not in fed] + list(targets)
    while stack:
        op = stack.pop()
        if id(op) in needed:
            continue
        needed[id(op)] = op
        for t in op.inputs:
            if id(t) not in fed:
                stack.append(t.op)
        stack.extend(op.control_inputs)

    deps: dict[int, set[int]] = {k: set() for k in needed}
    users: dict[int, list[int]] = {k: [] for k in needed}
    for k, op in needed.items():
        for t in op.inputs:
            if id(t) not in fed and id(t.op) in needed:
                deps[k].add(id(t.op))
        for c in op.control_inputs:
            deps[k].add(id(c))
    for k in needed:
        for p in deps[k]:
            users[p].append(k)

    # Readers of a variable run before the ops that overwrite it (unless they depend on them).
    mutators: dict[int, tuple[Tensor, list[int]]] = {}
    for k, op in needed.items():
        d = registry.op_def(op.type)
        if d is not None and d.mutates is not None and op.inputs:
            var_t = op.inputs[d.mutates]
            mutators.setdefault(id(var_t), (var_t, []))[1].append(k)
    for var_t, muts in mutators.values():
        readers: list[int] = []
        frontier = [var_t]
        while frontier:
            t = frontier.pop()
            for c in t._consumers:
                if id(c) not in needed or id(c) in muts:
                    continue
                readers.append(id(c))
                dc = registry.op_def(c.type)
                if dc is not None and dc.view and c.inputs and c.inputs[0] is t:
                    frontier.extend(c.outputs)
        for m in muts:
            desc: set[int] = set()
            st = [m]
            while st:
                x = st.pop()
                for u in users[x]:
                    if u not in desc:
                        desc.add(u)
                        st.append(u)
            for r in readers:
                if r not in desc and r != m and r not in deps[m]:
                    deps[m].add(r)
                    users[r].append(m)

    indeg = {k: len(v) for k, v in deps.items()}
    heap = [(needed[k]._id, k) for k, n in indeg.items() if n == 0]
    heapq.heapify(heap)
    order: list[Operation] = []
    while heap:
        _, k = heapq.heappop(heap)
        order.append(needed[k])
        for u in users[k]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, (needed[u]._id, u))
    if len(order) != len(needed):
        raise InvalidArgumentError(None, None, "the graph has a cycle among the ops needed for this run")
    return order
