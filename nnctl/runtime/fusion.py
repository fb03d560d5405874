"""Fused elementwise chains: a bound plan's chains of elementwise ops evaluated in one pass.

numpy runs ``(h - mean) * rstd * gamma + beta`` as four passes over memory, each writing a
temporary the size of ``h``; a bias add and its relu are two. Here a chain of such ops becomes one
compiled loop (nnctl/csrc/fuse.c) that walks the output in blocks, keeps the intermediates in
cache and reads each input once: one step instead of one per op.

A chain is found when the plan binds (``plan``): ops whose registry entry names their
``fusion`` instruction, of one float dtype and one output shape, each feeding only the next op of
the chain (a single consumer, not fetched, not a folded constant). Their other operands are the
chain's inputs, each the output's shape, or broadcast over its [rows, cols] view: one value per
column (a bias, layer norm's gamma), per row (layer norm's mean) or a scalar. The instructions do
numpy's float operations in numpy's order, so a fused step gives the unfused steps' bits, which
the tests check; the allocating first run (and ``--debug-nans``) keeps the op-by-op kernels.

It applies on host memory with the compiled library loaded (NNCTL_JIT=0 turns it off, as every
compiled loop), from MIN_ELEMENTS output elements on (fewer than a single compiled loop needs:
the chain saves a call per op).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnctl.runtime.native import JIT_DTYPES, Kernel, compiled, enabled, host_arrays

# A chain of k ops replaces k numpy calls (about a microsecond each, whatever the size) with one
# compiled call: it pays from far fewer elements than one compiled loop in place of one ufunc
# (runtime/native.py's MIN_ELEMENTS). A masked bidirectional LSTM's [64, 64] blends: 8% off the
# training step (bench-style A/B in one process, alternating rounds).
MIN_ELEMENTS = 1 << 10

# keep in step with csrc/fuse.c
OPCODES = {"add": 0, "sub": 1, "mul": 2, "div": 3, "neg": 4, "square": 5, "sqdiff": 6, "sqrt": 7, "rsqrt": 8,
           "relu": 9, "relu_grad": 10, "broadcast": 11}
UNARY = frozenset({"neg", "square", "sqrt", "rsqrt", "relu", "broadcast"})
FULL, ROW, COL, SCALAR = 0, 1, 2, 3
MAX_REGISTERS = 64   # fuse.c's register table
BLOCK = 512          # fuse.c's FU_BLOCK: values per register


def load() -> Any:
    """The compiled chain kernel, or None (NNCTL_JIT=0, or no library)."""
    return compiled("fuse", lambda lib: Kernel(lib, "fused_chain", "llijiaiaiii"))


def available(backend: Any) -> bool:
    """Chains may be fused for this backend's arrays (the library itself loads only once a plan
    has a chain: small programs never load it)."""
    return bool(backend.host_memory) and enabled()


@dataclass
class Chain:
    """Ops (plan execs, in plan order; the root, whose output the chain computes, last), the
    tensors they read from outside the chain, the program over them and the output's
    [rows, cols] view."""
    ops: list[Any]
    inputs: list[Any]
    kinds: list[int]
    prog: list[tuple[int, int, int, int]]
    rows: int
    cols: int
    full: tuple[int, ...] = field(default=())   # indices of inputs the output's shape (may be written over)
    shaped: list[Any] = field(default_factory=list)  # intermediates ops after the root read for their shape only

    def bind(self, in_bufs: list[Any], out: Any) -> Any:
        """The zero-argument step over these buffers, or None where they do not suit the loop (not
        aligned C-contiguous numpy arrays of the dtype, or the output overlapping an input other
        than exactly: the caller binds the ops one by one)."""
        kernel = load()
        if kernel is None or not host_arrays(out.dtype, (out, *in_bufs)):
            return None
        addr = out.__array_interface__["data"][0]
        for b, kind in zip(in_bufs, self.kinds):
            if np.may_share_memory(out, b) and (kind != FULL or b.__array_interface__["data"][0] != addr):
                return None
        ptrs = np.array([b.__array_interface__["data"][0] for b in in_bufs], dtype=np.int64)
        kinds = np.array(self.kinds, dtype=np.int64)
        prog = np.array(self.prog, dtype=np.int32).reshape(-1)
        nreg = len(in_bufs) + len(self.prog)
        regs = np.empty(nreg * BLOCK, dtype=out.dtype)
        step = kernel.bind(ptrs, kinds, len(in_bufs), prog, len(self.prog), regs, nreg, out.reshape(-1), 0,
                           self.rows, self.cols)
        step.inputs = tuple(in_bufs)  # type: ignore[attr-defined]  # the addresses' arrays outlive the step
        return step


def _size(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _kind(s: tuple, out: tuple, k: int) -> int | None:
    """How an operand of shape ``s`` broadcasts over ``out`` viewed as [prod(out[:k]), prod(out[k:])]."""
    if s == out:
        return FULL
    if _size(s) == 1:
        return SCALAR
    padded = (1,) * (len(out) - len(s)) + tuple(s)
    if len(padded) != len(out):
        return None
    if padded == (1,) * k + tuple(out[k:]):
        return ROW
    if padded == tuple(out[:k]) + (1,) * (len(out) - k):
        return COL
    return None


def _split(shapes: list[tuple], out: tuple) -> tuple[int, list[int]] | None:
    """The first split of ``out`` (most columns) under which every operand is one of the kinds."""
    for k in range(len(out) + 1):
        kinds = [_kind(s, out, k) for s in shapes]
        if all(kd is not None for kd in kinds):
            return k, kinds  # type: ignore[return-value]
    return None


def _instruction(ex: Any, info: dict[int, tuple]) -> str | None:
    """The op's instruction where it may join a chain: a float32/float64 op with a ``fusion``
    entry and one output (a bias add only over the last axis)."""
    d = ex.d
    if d is None or d.fusion is None or len(ex.op.outputs) != 1:
        return None
    # computing ops; a broadcast is a view op that binding materializes (a stride-0 view is no buffer)
    if ex.kind != "compute" and not (ex.kind == "view" and d.fusion == "broadcast"):
        return None
    t = ex.op.outputs[0]
    if id(t) not in info or info[id(t)][1] not in JIT_DTYPES:
        return None
    if d.fusion == "bias_add":
        return "add" if ex.op.attrs.get("channel_axis") == len(info[id(t)][0]) - 1 else None
    return d.fusion


def _operands(ex: Any) -> list[Any]:
    """The inputs an op's instruction reads (not those read for their shape only)."""
    skip = ex.d.shape_inputs
    return [t for j, t in enumerate(ex.ins) if j not in skip]


def plan(execs: list[Any], info: dict[int, tuple], constvals: dict[int, Any], fetch_ids: set[int],
         keep_out: Any) -> dict[int, Chain]:
    """The chains of a plan about to be bound: id(root op) -> Chain. ``keep_out(ex)``: the op
    stays out (the bind makes it an alias, x * 1, or it runs in a subgraph kernel's region)."""
    producer: dict[int, Any] = {}
    consumers: dict[int, set[int]] = {}    # the ops reading a tensor's values
    shape_readers: dict[int, list[int]] = {}  # the positions of ops reading its shape only
    position = {}
    for i, ex in enumerate(execs):
        position[id(ex.op)] = i
        for t in ex.op.outputs:
            producer[id(t)] = ex
        values = {id(t) for t in _operands(ex)} if ex.d is not None else {id(t) for t in ex.ins}
        for t in ex.ins:
            if id(t) in values:
                consumers.setdefault(id(t), set()).add(id(ex.op))
            else:
                shape_readers.setdefault(id(t), []).append(i)
    instr = {}
    for ex in execs:
        code = _instruction(ex, info)
        if code is not None and id(ex.op.outputs[0]) not in constvals and not keep_out(ex):
            instr[id(ex.op)] = code
    barriers = [i for i, ex in enumerate(execs) if ex.kind in ("mutate", "effect")]
    taken: set[int] = set()
    chains: dict[int, Chain] = {}
    for ex in reversed(execs):
        if id(ex.op) not in instr or id(ex.op) in taken:
            continue
        out_t = ex.op.outputs[0]
        shape, dtype = info[id(out_t)]
        if _size(shape) < MIN_ELEMENTS:
            continue
        members = {id(ex.op): ex}
        stack = [ex]
        while stack:
            e = stack.pop()
            for t in _operands(e):
                p = producer.get(id(t))
                # read by this op alone (others may read its shape after the root: a gradient's
                # SumToShape; they get a placeholder of that shape)
                if (p is None or id(p.op) not in instr or id(p.op) in taken or id(p.op) in members
                        or info.get(id(t)) != (shape, dtype) or id(t) in fetch_ids
                        or consumers.get(id(t)) != {id(e.op)}
                        or any(r < position[id(ex.op)] for r in shape_readers.get(id(t), ()))):
                    continue
                members[id(p.op)] = p
                stack.append(p)
        if len(members) < 2:
            continue
        ops = sorted(members.values(), key=lambda m: position[id(m.op)])
        lo, hi = position[id(ops[0].op)], position[id(ex.op)]
        if any(lo < b < hi for b in barriers):  # an update between: its reads must not move past it
            continue
        chain = _compile(ops, info, shape, instr)
        if chain is None:
            continue
        chain.shaped = [m.op.outputs[0] for m in ops[:-1] if id(m.op.outputs[0]) in shape_readers]
        chains[id(ex.op)] = chain
        taken.update(members)
    return chains if chains and load() is not None else {}


def _compile(ops: list[Any], info: dict[int, tuple], shape: tuple, instr: dict[int, str]) -> Chain | None:
    inside = {id(ex.op.outputs[0]) for ex in ops}
    inputs: list[Any] = []
    index: dict[int, int] = {}
    for ex in ops:
        for t in _operands(ex):
            if id(t) not in inside and id(t) not in index:
                index[id(t)] = len(inputs)
                inputs.append(t)
    split = _split([info[id(t)][0] for t in inputs], shape)
    if split is None:
        return None
    k, kinds = split
    reg = dict(index)
    prog: list[tuple[int, int, int, int]] = []
    for ex in ops:
        code = instr[id(ex.op)]
        args = [reg[id(t)] for t in _operands(ex)]
        if code == "add_n":  # AddN's kernel: ((x0 + x1) + x2) + ..., left to right
            if len(args) < 2:
                return None
            acc = args[0]
            for b in args[1:]:
                prog.append((OPCODES["add"], len(inputs) + len(prog), acc, b))
                acc = len(inputs) + len(prog) - 1
        elif (code in UNARY) != (len(args) == 1) or len(args) > 2:
            return None
        else:
            prog.append((OPCODES[code], len(inputs) + len(prog), args[0], -1 if code in UNARY else args[1]))
        reg[id(ex.op.outputs[0])] = len(inputs) + len(prog) - 1
    if len(inputs) + len(prog) > MAX_REGISTERS:
        return None
    full = tuple(i for i, kd in enumerate(kinds) if kd == FULL)
    return Chain(ops, inputs, kinds, prog, _size(shape[:k]), _size(shape[k:]), full)
