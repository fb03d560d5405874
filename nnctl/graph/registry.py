"""The op registry: for each op type, its kernel factory, its gradient rule and its properties.

A *kernel factory* ``factory(op, ctx) -> fn`` is called once per (session, op) when a plan is
compiled; ``fn(*inputs, out=None)`` computes the op's output(s). With ``out=None`` it returns new
arrays; with ``out=`` (an array, or a tuple of arrays for several outputs) it writes into them. The
plan compiler uses the first form on the first run of a plan (to learn every shape) and the second
form afterwards, over preallocated, reused buffers. A kernel may also offer
``fn.bind(*input_buffers, out=buffer) -> step``, a zero-argument callable specialised to those
buffers (shapes known, axes precomputed), which the plan then calls instead. ``ctx`` carries ``xp`` (the array module),
the backend, the session's variable store and random streams.

A *gradient rule* ``rule(op, *dys) -> list`` returns one entry per input of ``op`` — a Tensor
built from public ops, or None where no gradient flows — so gradients of gradients work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class OpDef:
    type: str
    kernel: Callable[..., Any] | None = None
    grad: Callable[..., Any] | None = None
    grad_takes_none: bool = False  # the rule takes None for an output nothing differentiates (else zeros)
    differentiable: bool = True
    view: bool = False            # the outputs may alias input 0: decided once per plan, at bind time
    inplace: tuple[int, ...] = ()  # inputs whose buffer the output may overwrite
    stateful: bool = False        # random, variable or side effect: never folded or merged
    out_ok: bool = True           # fn accepts out=
    mutates: int | None = None    # index of the input whose variable this op writes in place
    shape_inputs: tuple[int, ...] = ()  # inputs read only for their shape (constant within a plan)
    elementwise: bool = False     # may run on row blocks of its operands in parallel
    joins: bool = False           # the output is the inputs joined in order along attrs["axis"] (concat)
    fusion: str | None = None     # the op's instruction in a fused elementwise chain (runtime/fusion.py)
    feed: bool = False            # no kernel: its value must be fed (Placeholder); never folded or merged
    no_step: bool = False         # nothing to run: the op exists for its control edges (NoOp)
    accepts_uninitialized: tuple[int, ...] = ()  # inputs that may be an uninitialized variable (Assign's ref)
    # (kept input, constant input, unit): the op returns the kept input unchanged when the constant
    # input is all `unit` and does not change the output's shape (x * 1, x / 1, x + 0, x - 0)
    identity: tuple[tuple[int, int, int], ...] = ()
    # sum_rule(ops, concat) -> Tensor | None: one tensor equal to the sum of these ops' first
    # outputs, built cheaper than AddN over them (gradients.py asks it when it aggregates)
    sum_rule: Callable[..., Any] | None = None
    # subgraph_grad(op) -> SubgraphGradient | None: one rule for a subgraph ending at this op (its
    # root), which gradients.py takes in place of the per-op rules where nothing else differentiates
    # the subgraph's interior
    subgraph_grad: Callable[..., Any] | None = None
    # subgraph_kernel(op) -> SubgraphKernel | None: one kernel for a subgraph ending at this op,
    # which a bound plan runs as one step in place of the ops' own (runtime/subgraphs.py)
    subgraph_kernel: Callable[..., Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SubgraphGradient:
    """A gradient rule for a whole subgraph: ``interior`` (its ops, the root included), ``inputs``
    (the tensors it differentiates with respect to) and ``rule(dy)`` (dy: the gradient of the
    root's first output), returning one gradient (or None) per input. Every other tensor the
    interior reads must need no gradient; gradients.py checks that, and that no interior tensor is
    differentiated from elsewhere, before it takes the rule."""
    interior: list[Any]
    inputs: list[Any]
    rule: Callable[[Any], list[Any]]


@dataclass
class SubgraphKernel:
    """One kernel for a whole subgraph: ``interior`` (its ops, the root included), ``inputs`` (the
    tensors it reads from outside), ``outputs`` (the interior's tensors that others may read; the
    root's first output among them) and ``bind(ctx, in_bufs)``: None where the input buffers do not
    suit the kernel (the plan then runs the ops one by one), else ``make(out_bufs)`` returning the
    zero-argument step that writes every output (fresh C-contiguous buffers) from the inputs.
    ``const_inputs``: indices of inputs that must be constants of the plan (bind may read them
    once). The step must give the bits the interior's ops give run one by one; runtime/subgraphs.py
    checks that nothing outside reads another interior tensor."""
    interior: list[Any]
    inputs: list[Any]
    outputs: list[Any]
    bind: Callable[[Any, list[Any]], Any]
    const_inputs: tuple[int, ...] = ()


_REGISTRY: dict[str, OpDef] = {}


def _get(op_type: str) -> OpDef:
    d = _REGISTRY.get(op_type)
    if d is None:
        d = _REGISTRY[op_type] = OpDef(op_type)
    return d


def register_kernel(op_type: str, *, view: bool = False, inplace: tuple[int, ...] = (),
                    stateful: bool = False, out: bool = True, mutates: int | None = None,
                    shape_only: bool = False, shape_inputs: tuple[int, ...] = (), elementwise: bool = False,
                    no_step: bool = False, accepts_uninitialized: tuple[int, ...] = (),
                    identity: tuple[tuple[int, int, int], ...] = (), joins: bool = False,
                    fusion: str | None = None) -> Callable[[Callable], Callable]:
    """Register the kernel factory of ``op_type``.

    ``shape_only``: every input is read only for its shape. Outputs whose other inputs are all
    constant are folded once per plan (shapes are fixed within a plan). ``elementwise``: applying the
    kernel to row blocks [lo:hi] of every operand that has the output's leading dimension (others
    are broadcast) gives the same rows of the result, so big steps can be split across threads.
    ``no_step``: the kernel does nothing, a bound plan has no step for it. ``accepts_uninitialized``:
    inputs that may still be uninitialized variables (an initializer's Assign). ``identity``: rows
    (kept input, constant input, unit) under which the bound plan aliases the output to the kept
    input instead of running the op. ``joins``: the output is the inputs joined in order along
    ``attrs["axis"]``, so a bound plan may have their producers write straight into its buffer.
    ``fusion``: the op's instruction in runtime/fusion.py's fused elementwise chains (its kernel
    does exactly that instruction's float operations on float32/float64)."""
    def deco(factory: Callable) -> Callable:
        d = _get(op_type)
        if d.kernel is not None:
            raise ValueError(f"kernel for op type {op_type!r} is already registered")
        d.kernel, d.view, d.inplace, d.stateful = factory, view, tuple(inplace), stateful
        d.out_ok, d.mutates, d.elementwise = out, mutates, elementwise
        d.no_step, d.accepts_uninitialized, d.identity = no_step, tuple(accepts_uninitialized), tuple(identity)
        d.joins, d.fusion = joins, fusion
        d.shape_inputs = tuple(range(64)) if shape_only else tuple(shape_inputs)
        return factory
    return deco


def register_feed(op_type: str) -> None:
    """Declare an op type without a kernel whose value a run must feed (``tf.placeholder``)."""
    _get(op_type).feed = True


def register_gradient(op_type: str, takes_none: bool = False) -> Callable[[Callable], Callable]:
    """Register the gradient rule of ``op_type`` (TF's ``tf.RegisterGradient``).

    A rule gets one gradient per output; for an output that nothing differentiates that is a zeros
    tensor (as in TF), or None with ``takes_none`` (a rule that can then skip work on it)."""
    def deco(rule: Callable) -> Callable:
        d = _get(op_type)
        if d.grad is not None:
            raise KeyError(f"Registering two gradient with name '{op_type}'!")
        d.grad = rule
        d.grad_takes_none = takes_none
        return rule
    return deco


def register_sum_rule(op_type: str) -> Callable[[Callable], Callable]:
    """Register how a sum of several ``op_type`` outputs can be one op (see ``OpDef.sum_rule``).

    The rule gets the ops whose first outputs are summed, in order, and ``concat(tensors, axis)``
    (which builds each distinct concatenation once per ``gradients`` call, so rules that join the
    same tensors share it); it returns the sum, or None where it does not apply."""
    def deco(rule: Callable) -> Callable:
        _get(op_type).sum_rule = rule
        return rule
    return deco


def _register_matcher(op_type: str, field_name: str, what: str) -> Callable[[Callable], Callable]:
    """A decorator storing a subgraph matcher in the op type's OpDef field; one per op type."""
    def deco(matcher: Callable) -> Callable:
        d = _get(op_type)
        if getattr(d, field_name) is not None:
            raise KeyError(f"a subgraph {what} for op type {op_type!r} is already registered")
        setattr(d, field_name, matcher)
        return matcher
    return deco


def register_subgraph_gradient(op_type: str) -> Callable[[Callable], Callable]:
    """Register a matcher ``matcher(op) -> SubgraphGradient | None`` for subgraphs whose root is an
    ``op_type`` op (see ``OpDef.subgraph_grad``); one per op type."""
    return _register_matcher(op_type, "subgraph_grad", "gradient")


def register_subgraph_kernel(op_type: str) -> Callable[[Callable], Callable]:
    """Register a matcher ``matcher(op) -> SubgraphKernel | None`` for subgraphs whose root is an
    ``op_type`` op (see ``OpDef.subgraph_kernel``); one per op type."""
    return _register_matcher(op_type, "subgraph_kernel", "kernel")


class RegisterGradient:
    """Decorator form with TF1's spelling: ``@tf.RegisterGradient("MyOp")``."""

    def __init__(self, op_type: str) -> None:
        self._op_type = op_type

    def __call__(self, rule: Callable) -> Callable:
        return register_gradient(self._op_type)(rule)


def not_differentiable(*op_types: str) -> None:
    """Declare op types through which no gradient flows (their inputs get None)."""
    for t in op_types:
        _get(t).differentiable = False


def op_def(op_type: str) -> OpDef | None:
    return _REGISTRY.get(op_type)


def all_op_defs() -> dict[str, OpDef]:
    return dict(_REGISTRY)
