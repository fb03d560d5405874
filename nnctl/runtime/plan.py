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
   input where the kernel allows it (``_BufferPool``), one small step builder per kind of op
   (``_Exec.kind``, the description the trace follows too). Each step becomes the kernel's
   ``bind(...)`` (which may pick a fused one-pass loop, runtime/jit.py) or
   ``partial(fn, *input_buffers, out=buffer)``.

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
from nnctl.runtime import fusion, parallel, subgraphs
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
        self._execs = [_Exec(op, self._inputs(op)) for op in self.order]
        for ex in self._execs:
            if ex.d is not None and ex.d.feed:
                op = ex.op
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
            if d is not None and not d.stateful and d.kernel is not None and not d.feed:
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
        # A dry run makes each kernel for its one call and drops it after, with the scratch buffers
        # it allocated (holding every op's kernel until the end raised the first run's peak memory).
        kernels: dict[int, Any] | None = None if dry else self._kernels
        vals: dict[int, Any] = {}
        be = self.ctx.backend
        device_type = be.array_type
        for t, v in zip(self.feeds, feed_values):
            vals[id(t)] = v if isinstance(v, device_type) else be.upload(v)
        info: dict[int, tuple] = {id(t): (tuple(v.shape), v.dtype) for t, v in zip(self.feeds, feed_values)}
        constvals: dict[int, Any] = {}
        remaining = dict(self._consumer_counts())
        keep = {id(t) for t in self.fetches}
        for ex in self._execs:
            op, d, ins_t = ex.op, ex.d, ex.ins
            ins = [vals[id(t)] for t in ins_t]
            if check_initialized(op, ins, d) and dry:
                raise _NeedsInit()
            is_const = ex.foldable and all(id(t) in constvals for i, t in enumerate(ins_t) if i not in d.shape_inputs)
            fn = None if kernels is None else kernels.get(id(op))
            if fn is None:
                fn = self._make_kernel(op, ctx)
                if kernels is not None:
                    kernels[id(op)] = fn
            try:
                if ex.zero_d_out and ins and all(getattr(v, "ndim", None) == 0 for v in ins):
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
            for t, v in zip(outs, kernel_outputs(op, res)):
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
        be = self.ctx.backend
        pool = _BufferPool(self.ctx.xp, self._consumer_counts(), {id(t) for t in self.fetches})
        pool.slots = _join_slots(self._execs, info, constvals)
        self.feed_bufs = []
        for t in self.feeds:
            buf = be.empty(*info[id(t)])
            self.feed_bufs.append(buf)
            pool.pin(t, buf)
        steps: list[Any] = []
        step_ops: list[Operation] = []
        fetch_ids = {id(t) for t in self.fetches}
        regions = subgraphs.plan(self._execs, constvals, fetch_ids, self.alias) if subgraphs.available(be) else {}
        in_region = {id(e.op) for r in regions.values() for e in r.execs}
        chains = fusion.plan(self._execs, info, constvals, fetch_ids,
                             lambda ex: id(ex.op) in in_region or _identity_input(ex, constvals, info) is not None
                             ) if fusion.available(be) else {}
        members = {id(m.op) for c in chains.values() for m in c.ops[:-1]}
        members.update(in_region - set(regions))
        for ex in self._execs:
            if id(ex.op) in members:
                continue  # bound with its chain or region, at the last op
            chain = chains.get(id(ex.op))
            region = regions.get(id(ex.op))
            if chain is not None:
                self._bind_chain(chain, pool, info, constvals, steps, step_ops)
            elif region is not None:
                self._bind_region(region, pool, info, constvals, steps, step_ops)
            else:
                self._bind_op(ex, pool, info, constvals, steps, step_ops)
        self.steps = steps
        self._step_ops = step_ops
        self.fetch_bufs = [pool.bufs.get(id(t)) for t in self.fetches]
        self.fetch_fns = [self._fetcher(b) for b in self.fetch_bufs]
        self.bound_version = self.ctx.variables.version

    def _bind_op(self, ex: _Exec, pool: _BufferPool, info: dict, constvals: dict, steps: list, step_ops: list
                 ) -> None:
        outs = ex.op.outputs
        in_bufs = [pool.bufs[id(t)] for t in ex.ins]
        if outs and all(id(t) in constvals for t in outs):
            for t in outs:
                pool.pin(t, constvals[id(t)], const=True)
            step = None
        else:
            step = _BUILDERS[ex.kind](self, ex, in_bufs, pool, info, constvals)
        if step is not None:
            steps.append(step)
            step_ops.append(ex.op)
        pool.done(ex.ins, outs)

    def _bind_chain(self, chain: fusion.Chain, pool: _BufferPool, info: dict, constvals: dict, steps: list,
                    step_ops: list) -> None:
        """A fused elementwise chain (runtime/fusion.py): one step at its last op, which reads the
        chain's inputs, kept alive until then; the intermediates get no buffers. Where the buffers do
        not suit the fused loop, its ops are bound one by one here instead."""
        root = chain.ops[-1]
        t = root.op.outputs[0]
        shape, dtype = info[id(t)]
        in_bufs = [pool.bufs[id(u)] for u in chain.inputs]
        buf = pool.output(t, shape, dtype, info, chain.inputs, in_bufs, chain.full)
        step = chain.bind(in_bufs, buf)
        if step is not None:
            steps.append(step)
            step_ops.append(root.op)
            self._pin_shaped(chain.shaped, pool, info)
            for ex in chain.ops:  # the inputs' reads, all at this step; the intermediates have no base
                pool.done(ex.ins, ex.op.outputs)
            return
        for ex in chain.ops[:-1]:
            self._bind_op(ex, pool, info, constvals, steps, step_ops)
        steps.append(self._bound_call(root, [pool.bufs[id(u)] for u in root.ins], [buf], shape))
        step_ops.append(root.op)
        pool.done(root.ins, root.op.outputs)

    def _bind_region(self, region: subgraphs.Region, pool: _BufferPool, info: dict, constvals: dict,
                     steps: list, step_ops: list) -> None:
        """A subgraph kernel (runtime/subgraphs.py): one step at the root, which reads the region's
        inputs, kept alive until then, and writes its outputs; the other interior tensors get no
        buffers. Where the input buffers do not suit the kernel, its ops are bound one by one here."""
        make = region.rule.bind(self.ctx, [pool.bufs[id(t)] for t in region.inputs])
        if make is None:
            for ex in region.execs:
                self._bind_op(ex, pool, info, constvals, steps, step_ops)
            return
        steps.append(make([pool.alloc(t, *info[id(t)]) for t in region.outputs]))
        step_ops.append(region.execs[-1].op)
        self._pin_shaped(region.shaped, pool, info)
        for ex in region.execs:
            pool.done(ex.ins, ex.op.outputs)

    def _pin_shaped(self, tensors: list, pool: _BufferPool, info: dict) -> None:
        """Tensors a fused chain or region computes without a buffer that later ops read for their
        shape only: each a view of one value with that shape."""
        for t in tensors:
            shape, dtype = info[id(t)]
            pool.pin(t, self.ctx.xp.broadcast_to(self.ctx.xp.zeros((), dtype=dtype), shape))

    # --- step builders, one per kind of op (see _Exec); each returns a step or None ----------
    def _bound_call(self, ex: _Exec, in_bufs: list[Any], outs: list[Any] | None, shape: tuple | None) -> Any:
        """The zero-argument step running ``ex``'s kernel over bound buffers: a multi-threaded split
        for a large elementwise op, else the kernel's own ``bind``, else ``partial(fn, ..., out=)``
        (or a copy of the result for a kernel that takes no ``out=``). ``outs`` None: the kernel
        writes where its inputs say (a mutating or side-effect op)."""
        fn = self.kernel(ex.op)
        out = None if outs is None else (outs[0] if len(outs) == 1 else tuple(outs))
        if shape is not None and (outs is None or len(outs) == 1):
            par = self._parallel(ex.op, ex.d, in_bufs, out, shape)
            if par is not None:
                return par
        binder = getattr(fn, "bind", None)
        if outs is None:
            return binder(*in_bufs) if binder is not None else partial(fn, *in_bufs)
        if binder is not None:
            return binder(*in_bufs, out=out)
        if ex.d is not None and not ex.d.out_ok:
            return partial(_copy_from, self.ctx.xp.copyto, fn, outs, in_bufs)
        return partial(fn, *in_bufs, out=out)

    def _build_view(self, ex: _Exec, in_bufs: list[Any], pool: _BufferPool, info: dict, constvals: dict) -> Any:
        """A view op aliases its input's buffer and costs nothing, when this binding lets it. A kernel
        that is a view only for some shapes says which through ``alias`` (the view, or None), so
        that binding never computes over the buffers' uninitialized contents. An op with several
        outputs (Split) aliases all of them or none."""
        fn = self.kernel(ex.op)
        probe = getattr(fn, "alias", None)
        res = probe(*in_bufs) if probe is not None else fn(*in_bufs)
        outs = ex.op.outputs
        vs = (None,) * len(outs) if res is None else kernel_outputs(ex.op, res)
        src = ex.ins[0] if ex.ins else None
        if src is None:  # a variable read: the store's array itself
            pool.pin(outs[0], vs[0])
            return None
        share = self.ctx.backend.may_share_memory
        if pool.owns(src) and all(v is not None and share(v, in_bufs[0]) for v in vs):
            for t, v in zip(outs, vs):
                pool.alias(t, src, v)
            return None
        # this time it could not alias (e.g. reshape of a transposed array): a copying step
        bufs = [pool.alloc(t, *info[id(t)]) for t in outs]
        return self._bound_call(ex, in_bufs, bufs, None)

    def _build_mutate(self, ex: _Exec, in_bufs: list[Any], pool: _BufferPool, info: dict, constvals: dict) -> Any:
        """Assign*, Apply*: the kernel writes its variable in place; the output is that variable."""
        m = ex.d.mutates
        step = self._bound_call(ex, in_bufs, None, in_bufs[m].shape)
        if ex.op.outputs:
            pool.alias(ex.op.outputs[0], ex.ins[m], in_bufs[m])
        return step

    def _build_effect(self, ex: _Exec, in_bufs: list[Any], pool: _BufferPool, info: dict, constvals: dict) -> Any:
        """An op without outputs run for its side effect."""
        return self._bound_call(ex, in_bufs, None, None)

    def _build_nothing(self, ex: _Exec, in_bufs: list[Any], pool: _BufferPool, info: dict, constvals: dict
                       ) -> Any:
        return None

    def _build_compute(self, ex: _Exec, in_bufs: list[Any], pool: _BufferPool, info: dict, constvals: dict
                       ) -> Any:
        """An op computing new outputs: an alias where it is an identity on this binding's constants,
        else output buffers from the pool (output 0 over a dying input where ``inplace`` allows)."""
        outs = ex.op.outputs
        j = _identity_input(ex, constvals, info)
        if j is not None:
            pool.alias(outs[0], ex.ins[j], in_bufs[j])
            return None
        joins = ex.d is not None and ex.d.joins
        if joins and not pool.owns(outs[0]):
            same = pool.joined(in_bufs)
            if same is not None and info[id(same)] == info[id(outs[0])]:
                # a concat of exactly another concat's in-place pieces, in order: that one's buffer
                pool.alias(outs[0], same, pool.bufs[id(same)])
                return None
        out_bufs = []
        for i, t in enumerate(outs):
            shape, dtype = info[id(t)]
            # a concat whose pieces were computed in place already has its buffer (pool.placed)
            buf = pool.bufs.get(id(t)) if joins else None
            if buf is None:
                candidates = ex.d.inplace if i == 0 and ex.d is not None else ()
                buf = pool.output(t, shape, dtype, info, ex.ins, in_bufs, candidates)
            out_bufs.append(buf)
        if joins:
            return self._join_step(ex, in_bufs, out_bufs[0], pool)
        return self._bound_call(ex, in_bufs, out_bufs, out_bufs[0].shape)

    def _join_step(self, ex: _Exec, in_bufs: list[Any], out: Any, pool: _BufferPool) -> Any:
        """A concat's step: copies of the pieces that were not computed in place (pool.placed), or
        no step at all where every piece was (an unrolled RNN's stacked per-step gradients)."""
        axis = _join_axis(ex.op, out.ndim)
        pre = (slice(None),) * axis
        views = pool.slot_views.get(id(ex.op.outputs[0]), {})
        misplaced, lo = [], 0
        for b in in_bufs:
            hi = lo + b.shape[axis]
            if views.get(lo) is not b:
                misplaced.append((out[pre + (slice(lo, hi),)], b))
            lo = hi
        if not misplaced:
            pool.remember_join(in_bufs, ex.op.outputs[0])
            return None
        if len(misplaced) == len(in_bufs):
            return self._bound_call(ex, in_bufs, [out], None)
        be = self.ctx.backend
        # a piece over the output's own memory (a reordering view of a placed one) goes through a copy
        return partial(_run_each, tuple(
            partial(_copy_through, be, dst, src) if be.may_share_memory(src, out) else partial(be.copyto, dst, src)
            for dst, src in misplaced))


_BUILDERS: dict[str, Any] = {"view": Plan._build_view, "mutate": Plan._build_mutate, "effect": Plan._build_effect,
                             "nothing": Plan._build_nothing, "compute": Plan._build_compute}


def _identity_input(ex: _Exec, constvals: dict[int, Any], info: dict[int, tuple]) -> int | None:
    """Index of the input that ``ex``'s op passes through unchanged (its registry ``identity`` rows):
    the other operand is a folded constant equal to the unit everywhere and the kept input already
    has the output's shape."""
    if ex.d is None or not ex.d.identity:
        return None
    out_shape = info.get(id(ex.op.outputs[0]))
    for keep, cst, unit in ex.d.identity:
        c = constvals.get(id(ex.ins[cst]))
        if c is None or info.get(id(ex.ins[keep])) != out_shape:
            continue
        if c.size and bool((c == unit).all()):
            return keep
    return None


def _join_axis(op: Operation, ndim: int) -> int:
    axis = op.attrs["axis"]
    return axis + ndim if axis < 0 else axis


def _join_slots(execs: list[_Exec], info: dict[int, tuple], constvals: dict[int, Any]) -> dict[int, tuple]:
    """Where the inputs of the plan's joining ops (concat) could be computed in place: id(tensor) ->
    (the joined tensor, lo, hi) along its axis, for a piece that comes from a computing op (through
    views that keep its shape and dtype: a SumToShape that sums nothing, an Identity) and whose slice
    of the output is C-contiguous (only 1s before the axis). The first concat in plan order that
    wants a tensor gets it. A hint only: the concat's step checks which pieces really are their
    slices (``Plan._join_step``) and copies the others."""
    by_op = {id(ex.op): ex for ex in execs}
    slots: dict[int, tuple] = {}
    for ex in execs:
        if ex.d is None or not ex.d.joins or ex.kind != "compute":
            continue
        out = ex.op.outputs[0]
        if id(out) in constvals or id(out) not in info:
            continue
        shape, dtype = info[id(out)]
        axis = _join_axis(ex.op, len(shape))
        if any(d != 1 for d in shape[:axis]):
            continue
        lo = 0
        for u in ex.ins:
            hi = lo + info[id(u)][0][axis]
            root = u
            src = by_op.get(id(root.op))
            while src is not None and src.kind == "view" and src.ins and info.get(id(src.ins[0])) == info[id(root)]:
                root = src.ins[0]
                src = by_op.get(id(root.op))
            if (src is not None and src.kind == "compute" and id(root) not in constvals and id(root) not in slots
                    and info[id(root)][1] == dtype):
                slots[id(root)] = (out, lo, hi)
            lo = hi
    return slots


def _run_each(steps: tuple) -> None:
    for s in steps:
        s()


def _copy_through(be: Any, dst: Any, src: Any) -> None:
    be.copyto(dst, src.copy())


class _BufferPool:
    """The buffers of one binding: tensor id -> array, with liveness-based reuse.

    A *base* is one underlying array; every tensor using it (the op's output, views of it, outputs
    written over it in place) shares its reference count, which is the number of consumers still to
    run. Owned bases come from free lists keyed by (dtype, size) and return there when their count
    reaches 0; pinned ones (feeds, folded constants, variables, fetched tensors) never do."""

    def __init__(self, xp: Any, consumers: dict[int, int], fetch_ids: set[int]) -> None:
        self.xp = xp
        self.bufs: dict[int, Any] = {}
        self.const: set[int] = set()           # tensors whose buffer holds a folded constant
        self._consumers = consumers
        self._fetch_ids = fetch_ids
        self._base_of: dict[int, int] = {}     # tensor id -> base key
        self._refs: dict[int, int] = {}        # base key -> remaining consumers
        self._owned: dict[int, Any] = {}       # base key -> its flat pool array, while live
        self._free: dict[tuple, list[Any]] = {}
        self._next = 0
        self.slots: dict[int, tuple] = {}      # _join_slots: tensor id -> (joined tensor, lo, hi)
        self.slot_views: dict[int, dict[int, Any]] = {}  # joined tensor id -> {lo: its piece's buffer}
        self._joins: dict[tuple, Tensor] = {}  # ids of a concat's in-place piece buffers -> its output

    def _new_base(self, pinned: bool) -> int:
        self._next += 1
        self._refs[self._next] = _PINNED if pinned else 0
        return self._next

    def _attach(self, t: Tensor, key: int, buf: Any) -> None:
        self.bufs[id(t)] = buf
        self._base_of[id(t)] = key
        self._refs[key] += self._consumers.get(id(t), 0) + (_PINNED if id(t) in self._fetch_ids else 0)

    def owns(self, t: Tensor) -> bool:
        """Whether ``t`` has a buffer of this binding that others may alias."""
        return id(t) in self._base_of

    def pin(self, t: Tensor, buf: Any, const: bool = False) -> None:
        """``t`` is ``buf``, which the pool never reuses."""
        self._attach(t, self._new_base(True), buf)
        if const:
            self.const.add(id(t))

    def alias(self, t: Tensor, src: Tensor, buf: Any) -> None:
        """``t`` is ``buf``, a view of (or the very buffer of) ``src``: it keeps src's base alive."""
        self._attach(t, self._base_of[id(src)], buf)
        if id(src) in self.const:
            self.const.add(id(t))

    def alloc(self, t: Tensor, shape: tuple, dtype: Any) -> Any:
        """A buffer for ``t`` from the free lists (or a new one)."""
        size = 1
        for s in shape:
            size *= s
        lst = self._free.get((dtype, size))
        flat = lst.pop() if lst else self.xp.empty(size, dtype=dtype)
        key = self._new_base(False)
        self._owned[key] = flat
        buf = flat.reshape(shape)
        self._attach(t, key, buf)
        return buf

    def placed(self, t: Tensor, shape: tuple, dtype: Any, info: dict[int, tuple]) -> Any:
        """``t``'s buffer as its slice of the concat it is a piece of (``slots``), the concat's
        buffer made at its first piece (itself placed where it is a piece too); else None."""
        p = self.slots.get(id(t))
        if p is None:
            return None
        out, lo, hi = p
        whole = self.bufs.get(id(out))
        if whole is None:
            oshape, odtype = info[id(out)]
            whole = self.placed(out, oshape, odtype, info)
            if whole is None:
                whole = self.alloc(out, oshape, odtype)
        axis = _join_axis(out.op, whole.ndim)
        v = whole[(slice(None),) * axis + (slice(lo, hi),)]
        if v.shape != shape or v.dtype != dtype or not v.flags.c_contiguous:
            return None
        self.alias(t, out, v)
        self.slot_views.setdefault(id(out), {})[lo] = v
        return v

    def output(self, t: Tensor, shape: tuple, dtype: Any, info: dict[int, tuple], ins: list[Tensor],
               in_bufs: list[Any], candidates: tuple[int, ...]) -> Any:
        """A computed output's buffer: its slice of a concat (``placed``), else a dying candidate
        input's (``take_over``), else one from the free lists (``alloc``)."""
        buf = self.placed(t, shape, dtype, info)
        if buf is None and candidates:
            buf = self.take_over(t, ins, in_bufs, candidates, shape, dtype)
        return buf if buf is not None else self.alloc(t, shape, dtype)

    def remember_join(self, in_bufs: list[Any], out: Tensor) -> None:
        """A concat all of whose pieces were computed in place: a later concat of the same piece
        buffers, in the same order, is its output (``joined``)."""
        self._joins[tuple(id(b) for b in in_bufs)] = out

    def joined(self, in_bufs: list[Any]) -> Tensor | None:
        return self._joins.get(tuple(id(b) for b in in_bufs))

    def take_over(self, t: Tensor, ins: list[Tensor], in_bufs: list[Any], candidates: tuple[int, ...],
                  shape: tuple, dtype: Any) -> Any:
        """The buffer of the first candidate input that dies at this op (no other reader, not a
        constant, not read twice by it, same shape and dtype, contiguous), now ``t``'s; else None."""
        for j in candidates:
            if j >= len(ins):
                continue
            src = ins[j]
            key = self._base_of.get(id(src))
            b = in_bufs[j]
            if (key is not None and key in self._owned and self._refs[key] == 1 and id(src) not in self.const
                    and b.shape == shape and b.dtype == dtype and b.flags.c_contiguous
                    and sum(1 for u in ins if self._base_of.get(id(u)) == key) == 1):
                self._attach(t, key, b)
                return b
        return None

    def _unref(self, key: int) -> None:
        self._refs[key] -= 1
        if self._refs[key] == 0:
            self._give_back(key)

    def _give_back(self, key: int) -> None:
        flat = self._owned.pop(key, None)
        if flat is not None:
            self._free.setdefault((flat.dtype, flat.size), []).append(flat)

    def done(self, ins: list[Tensor], outs: list[Tensor]) -> None:
        """An op has been bound: its inputs lose a consumer, and outputs that nobody reads or
        fetches die at once."""
        for t in ins:
            key = self._base_of.get(id(t))
            if key is not None:
                self._unref(key)
        for t in outs:
            if self._consumers.get(id(t), 0) == 0 and id(t) not in self._fetch_ids:
                key = self._base_of.get(id(t))
                if key is not None and self._refs.get(key) == 0:
                    self._give_back(key)


class _Exec:
    """How one op of a plan executes: the single description that the trace and the bind follow.

    ``kind`` picks the bind's step builder: ``view`` (the outputs may alias input 0), ``mutate``
    (writes the variable of input ``d.mutates`` in place), ``effect`` (no outputs, run for a side
    effect), ``nothing`` (no outputs and no work, e.g. NoOp) or ``compute`` (new outputs).
    ``foldable``: the outputs are constants once every non-shape input is. ``zero_d_out``: the
    kernel takes ``out=`` for its single 0-d output (the trace passes a real 0-d array there)."""

    __slots__ = ("op", "d", "ins", "kind", "foldable", "zero_d_out")

    def __init__(self, op: Operation, ins: list[Tensor]) -> None:
        d = registry.op_def(op.type)
        self.op, self.d, self.ins = op, d, ins
        if d is not None and d.view:
            self.kind = "view"
        elif d is not None and d.mutates is not None:
            self.kind = "mutate"
        elif not op.outputs:
            self.kind = "nothing" if d is None or d.kernel is None or d.no_step else "effect"
        else:
            self.kind = "compute"
        self.foldable = d is not None and not d.stateful and not d.feed
        self.zero_d_out = (len(op.outputs) == 1 and op.outputs[0].static_shape == () and d is not None
                           and d.out_ok and not d.view)


def check_initialized(op: Operation, ins: list[Any], d: Any = None) -> bool:
    """Raise FailedPrecondition if ``op`` reads an uninitialized variable where its registry entry
    does not accept one; True if it reads one where it does (an initializer's Assign)."""
    pending = False
    for i, v in enumerate(ins):
        if isinstance(v, Uninitialized):
            if d is None:
                d = registry.op_def(op.type)
            if d is None or i not in d.accepts_uninitialized:
                raise uninitialized_error(op, v.name)
            pending = True
    return pending


class _NeedsInit(Exception):
    """The dry run met a variable that this very plan initializes: run it for real instead."""


def _copy_from(copyto: Any, fn: Any, outs: list[Any], in_bufs: list[Any]) -> None:
    """Run a kernel that takes no ``out=`` and copy its result(s) into the bound buffers."""
    res = fn(*in_bufs)
    if len(outs) == 1:
        copyto(outs[0], res)
    else:
        for o, r in zip(outs, res):
            copyto(o, r)


def kernel_outputs(op: Operation, res: Any) -> tuple:
    """A kernel's result as a tuple of ``op``'s outputs: a kernel returns its one output bare, a
    tuple for several, and anything (ignored) for none."""
    n = len(op.outputs)
    return (res,) if n == 1 else (() if n == 0 else res)


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
