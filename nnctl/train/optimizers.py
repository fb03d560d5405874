"""The optimizers. Each update is one fused op per variable (``Apply*``) that updates the variable and
its slots in place with out= ufuncs over one scratch buffer, so a step allocates nothing; the
update formulas are TensorFlow 1's (training_ops.cc).

Every ``Apply*`` op takes the variable's ref first (the input it ``mutates``), then the refs of its
slots (so pruning keeps them and the kernel updates them in place), then 0-d hyperparameter tensors
of the variable's dtype (so they can be fed or scheduled), and the gradient last.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor, get_default_graph
from nnctl.ops import array_ops, math_ops, state_ops
from nnctl.ops.core import make_op
from nnctl.ops.math_ops import _scratch
from nnctl.ops.variables import Variable
from nnctl.runtime import jit
from nnctl.train.optimizer import Optimizer


def _apply(op_type: str, var: Variable, inputs: list[Tensor], attrs: dict | None = None) -> Tensor:
    grad = inputs[-1]
    if grad.dtype != var.dtype:
        raise TypeError(f"{op_type}: gradient {grad.name} has dtype {grad.dtype.name} but variable "
                        f"'{var.op.name}' has dtype {var.dtype.name}")
    for t in inputs[:-1]:
        if t.op.type != "VariableV2" and t.static_shape is not None and len(t.static_shape) != 0:
            raise ValueError(f"{op_type} for variable '{var.op.name}': hyperparameter {t.name} must be a "
                             f"scalar, got shape {list(t.static_shape)}")
    return make_op(op_type, [var._ref_tensor(), *inputs], attrs=attrs or {}, shape=var.static_shape,
                   dtype=var.dtype, name=op_type)


def _call_if_callable(v: Any) -> Any:
    return v() if callable(v) and not isinstance(v, (Tensor, Variable)) else v


def _scalars(xp: Any) -> Callable[[str, Any], Any]:
    """0-d scratch arrays, one per (tag, dtype): scalar coefficients stay in the variable's dtype and
    on the device (no host round trip per step on CuPy)."""
    cache: dict[tuple, Any] = {}

    def get(tag: str, dtype: Any) -> Any:
        a = cache.get((tag, dtype))
        if a is None:
            a = cache[(tag, dtype)] = xp.empty((), dtype=dtype)
        return a
    return get


class _HyperOptimizer(Optimizer):
    """Hyperparameters (Python numbers, tensors or callables) converted once per dtype per
    ``apply_gradients`` into scalar tensors of the variable's dtype."""

    def __init__(self, use_locking: bool, name: str, **hyper: Any) -> None:
        super().__init__(use_locking, name)
        self._hyper = hyper
        self._hyper_t: dict[tuple[str, Any], Tensor] = {}
        self._hyper_now: dict[str, Any] = {}

    def _prepare(self) -> None:
        self._hyper_t = {}
        self._hyper_now = {k: _call_if_callable(v) for k, v in self._hyper.items()}

    def _h(self, key: str, var: Variable) -> Tensor:
        k = (key, var.dtype)
        t = self._hyper_t.get(k)
        if t is None:
            graph = get_default_graph()
            with graph.control_dependencies(None):
                t = self._hyper_t[k] = self._lr(self._hyper_now[key], var)
        return t

    def _const_slot(self, var: Variable, slot_name: str, value: float) -> Variable:
        def init() -> Tensor:
            s = var.static_shape
            if s is not None and None not in s:
                return state_ops.constant(np.full(s, value, dtype=var.dtype.np), dtype=var.dtype)
            return array_ops.ones_like(var.initial_value) * value
        return self._slot_with(var, slot_name, init)


# --- gradient descent ---------------------------------------------------------------------------

class GradientDescentOptimizer(Optimizer):
    """var -= lr * grad"""

    def __init__(self, learning_rate: Any, use_locking: bool = False, name: str = "GradientDescent") -> None:
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate

    def _apply_dense(self, grad: Tensor, var: Variable) -> Tensor:
        return _apply("ApplyGradientDescent", var,
                      [self._lr(_call_if_callable(self._learning_rate), var), grad])


@registry.register_kernel("ApplyGradientDescent", mutates=0, stateful=True, elementwise=True)
def _apply_gd_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch = _scratch(xp)

    def run(var: Any, lr: Any, grad: Any, out: Any = None) -> Any:
        s = scratch(var.shape, var.dtype)
        xp.multiply(grad, lr, out=s)
        return xp.subtract(var, s, out=var)

    def bind(var: Any, lr: Any, grad: Any) -> Any:
        fused = jit.for_arrays(ctx, var, lr, grad)
        if fused is not None:  # one pass, the same two roundings
            return fused.gradient_descent.bind(jit.flat(var), jit.flat(lr), jit.flat(grad))
        s, mul, sub = xp.empty_like(var), xp.multiply, xp.subtract

        def step() -> None:
            mul(grad, lr, out=s)
            sub(var, s, out=var)
        return step
    run.bind = bind  # type: ignore[attr-defined]
    return run


# --- momentum -----------------------------------------------------------------------------------

class MomentumOptimizer(_HyperOptimizer):
    """TF1's ApplyMomentum, slot ``momentum`` (zeros):

        accum = momentum * accum + grad
        var  -= lr * accum                              (use_nesterov=False)
        var  -= lr * (grad + momentum * accum)          (use_nesterov=True, accum already updated)
    """

    def __init__(self, learning_rate: Any, momentum: Any, use_locking: bool = False, name: str = "Momentum",
                 use_nesterov: bool = False) -> None:
        super().__init__(use_locking, name, lr=learning_rate, momentum=momentum)
        self._use_nesterov = bool(use_nesterov)

    def _create_slots(self, var_list: list[Variable]) -> None:
        for v in var_list:
            self._zeros_slot(v, "momentum", self._name)

    def _apply_dense(self, grad: Tensor, var: Variable) -> Tensor:
        accum = self.get_slot(var, "momentum")
        return _apply("ApplyMomentum", var, [accum._ref_tensor(), self._h("lr", var),
                                             self._h("momentum", var), grad],
                      attrs={"use_nesterov": self._use_nesterov})


@registry.register_kernel("ApplyMomentum", mutates=0, stateful=True, elementwise=True)
def _apply_momentum_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch = _scratch(xp)
    nesterov = op.attrs["use_nesterov"]

    def run(var: Any, accum: Any, lr: Any, momentum: Any, grad: Any, out: Any = None) -> Any:
        s = scratch(var.shape, var.dtype)
        xp.multiply(accum, momentum, out=accum)
        xp.add(accum, grad, out=accum)
        if nesterov:
            xp.multiply(accum, momentum, out=s)
            xp.add(s, grad, out=s)
            xp.multiply(s, lr, out=s)
        else:
            xp.multiply(accum, lr, out=s)
        return xp.subtract(var, s, out=var)

    def bind(var: Any, accum: Any, lr: Any, momentum: Any, grad: Any) -> Any:
        fused = jit.for_arrays(ctx, var, accum, lr, momentum, grad, min_elements=jit.UPDATE_MIN_ELEMENTS)
        if fused is None:
            return partial(run, var, accum, lr, momentum, grad)
        return fused.momentum.bind(*map(jit.flat, (var, accum, lr, momentum, grad)), bool(nesterov))
    run.bind = bind  # type: ignore[attr-defined]
    return run


# --- Adam and AdamW -----------------------------------------------------------------------------

class AdamOptimizer(_HyperOptimizer):
    """TF1's Adam (Kingma & Ba, the "epsilon hat" form), slots ``m``, ``v`` (zeros) and the non-slot
    variables ``beta1_power``, ``beta2_power`` (initialised to beta1, beta2, multiplied by them
    after every step)::

        lr_t = lr * sqrt(1 - beta2_power) / (1 - beta1_power)
        m    = beta1 * m + (1 - beta1) * grad
        v    = beta2 * v + (1 - beta2) * grad^2
        var -= lr_t * m / (sqrt(v) + epsilon)
    """

    _op_type = "ApplyAdam"

    def __init__(self, learning_rate: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, epsilon: Any = 1e-08,
                 use_locking: bool = False, name: str = "Adam") -> None:
        super().__init__(use_locking, name, lr=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon)

    def _get_beta_accumulators(self) -> tuple[Variable, Variable]:
        return self._non_slot["beta1_power"], self._non_slot["beta2_power"]

    def _create_slots(self, var_list: list[Variable]) -> None:
        first = min(var_list, key=lambda v: v.name)
        for key in ("beta1", "beta2"):
            beta = _call_if_callable(self._hyper[key])
            # as TF: the power variable has the dtype the initial value converts to (float32 for a
            # Python float, also when the variables are float64); it is cast where it is used
            dt = dtypes.float32 if isinstance(beta, float) else first.dtype
            self._non_slot_variable(f"{key}_power", beta, dt)
        for v in var_list:
            self._zeros_slot(v, "m", self._name)
            self._zeros_slot(v, "v", self._name)

    def _power(self, p: Variable, var: Variable) -> Tensor:
        t = p.value()
        return t if t.dtype == var.dtype else math_ops.cast(t, var.dtype)

    def _adam_inputs(self, grad: Tensor, var: Variable) -> list[Tensor]:
        b1p, b2p = self._get_beta_accumulators()
        return [self.get_slot(var, "m")._ref_tensor(), self.get_slot(var, "v")._ref_tensor(),
                self._power(b1p, var), self._power(b2p, var), self._h("lr", var), self._h("beta1", var),
                self._h("beta2", var), self._h("epsilon", var)]

    def _apply_dense(self, grad: Tensor, var: Variable) -> Tensor:
        return _apply("ApplyAdam", var, [*self._adam_inputs(grad, var), grad])

    def _finish(self, update_ops: list, name_scope: str) -> Operation:
        graph = get_default_graph()
        b1p, b2p = self._get_beta_accumulators()
        with graph.control_dependencies(update_ops):
            ub1 = b1p.assign(b1p.value() * self._lr(self._hyper_now["beta1"], b1p), name="update_beta1")
            ub2 = b2p.assign(b2p.value() * self._lr(self._hyper_now["beta2"], b2p), name="update_beta2")
        return state_ops.group(*update_ops, ub1, ub2, name=name_scope)


class AdamWOptimizer(AdamOptimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter), with the semantics of
    ``tf.contrib.opt.AdamWOptimizer``: the decay is *not* multiplied by the learning rate (scale
    ``weight_decay`` yourself, e.g. by the same schedule as the learning rate), and it is applied to
    the variable before the Adam step, with m and v computed from the gradient alone::

        var -= weight_decay * var                       (only for variables in decay_var_list)
        var -= lr_t * m / (sqrt(v) + epsilon)           (the Adam update above)

    i.e. var_new = (1 - weight_decay) * var - lr_t * m / (sqrt(v) + epsilon).
    ``minimize``/``apply_gradients`` accept ``decay_var_list`` (default: all variables updated).
    """

    def __init__(self, weight_decay: Any, learning_rate: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999,
                 epsilon: Any = 1e-8, use_locking: bool = False, name: str = "AdamW") -> None:
        super().__init__(learning_rate, beta1, beta2, epsilon, use_locking, name)
        self._hyper["weight_decay"] = weight_decay
        self._decay_var_list: set[int] | None = None

    def apply_gradients(self, grads_and_vars: Any, global_step: Variable | None = None,
                        name: str | None = None, decay_var_list: list | None = None) -> Operation:
        self._decay_var_list = None if decay_var_list is None else {id(v) for v in decay_var_list}
        try:
            return super().apply_gradients(grads_and_vars, global_step=global_step, name=name)
        finally:
            self._decay_var_list = None

    def minimize(self, loss: Any, global_step: Variable | None = None, var_list: list | None = None,
                 gate_gradients: int = Optimizer.GATE_OP, aggregation_method: Any = None,
                 colocate_gradients_with_ops: bool = False, name: str | None = None,
                 grad_loss: Any = None, decay_var_list: list | None = None) -> Operation:
        gv = self.compute_gradients(loss, var_list=var_list, grad_loss=grad_loss)
        return self.apply_gradients(gv, global_step=global_step, name=name, decay_var_list=decay_var_list)

    def _apply_dense(self, grad: Tensor, var: Variable) -> Tensor:
        if self._decay_var_list is not None and id(var) not in self._decay_var_list:
            return super()._apply_dense(grad, var)
        return _apply("ApplyAdamW", var, [*self._adam_inputs(grad, var), self._h("weight_decay", var), grad])


AdamW = AdamWOptimizer


def _adam_step(xp: Any, s: Any, sc: Callable[[str, Any], Any], var: Any, m: Any, v: Any, b1p: Any, b2p: Any,
               lr: Any, beta1: Any, beta2: Any, eps: Any, grad: Any) -> Any:
    dt = var.dtype
    # lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t), in 0-d arrays of the variable's dtype
    lr_t, c1, c2 = sc("lr_t", dt), sc("c1", dt), sc("c2", dt)
    xp.subtract(1, b2p, out=lr_t)
    xp.sqrt(lr_t, out=lr_t)
    xp.multiply(lr_t, lr, out=lr_t)
    xp.subtract(1, b1p, out=c1)
    xp.divide(lr_t, c1, out=lr_t)
    xp.subtract(1, beta1, out=c1)
    xp.subtract(1, beta2, out=c2)
    # m += (g - m)(1 - beta1) == beta1 m + (1 - beta1) g
    xp.subtract(grad, m, out=s)
    xp.multiply(s, c1, out=s)
    xp.add(m, s, out=m)
    # v += (g^2 - v)(1 - beta2)
    xp.multiply(grad, grad, out=s)
    xp.subtract(s, v, out=s)
    xp.multiply(s, c2, out=s)
    xp.add(v, s, out=v)
    # var -= lr_t m / (sqrt(v) + eps)
    xp.sqrt(v, out=s)
    xp.add(s, eps, out=s)
    xp.divide(m, s, out=s)
    xp.multiply(s, lr_t, out=s)
    return xp.subtract(var, s, out=var)


@registry.register_kernel("ApplyAdam", mutates=0, stateful=True, elementwise=True)
def _apply_adam_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch, sc = _scratch(xp), _scalars(xp)

    def run(var: Any, m: Any, v: Any, b1p: Any, b2p: Any, lr: Any, beta1: Any, beta2: Any, eps: Any,
            grad: Any, out: Any = None) -> Any:
        s = scratch(var.shape, var.dtype)
        return _adam_step(xp, s, sc, var, m, v, b1p, b2p, lr, beta1, beta2, eps, grad)

    def bind(var: Any, m: Any, v: Any, b1p: Any, b2p: Any, lr: Any, beta1: Any, beta2: Any, eps: Any,
             grad: Any) -> Any:
        ins = (var, m, v, grad, b1p, b2p, lr, beta1, beta2, eps)
        fused = jit.for_arrays(ctx, *ins, min_elements=jit.UPDATE_MIN_ELEMENTS)
        if fused is None:
            return partial(run, var, m, v, b1p, b2p, lr, beta1, beta2, eps, grad)
        return fused.adam.bind(*map(jit.flat, ins))
    run.bind = bind  # type: ignore[attr-defined]
    return run


@registry.register_kernel("ApplyAdamW", mutates=0, stateful=True, elementwise=True)
def _apply_adamw_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch, sc = _scratch(xp), _scalars(xp)

    def run(var: Any, m: Any, v: Any, b1p: Any, b2p: Any, lr: Any, beta1: Any, beta2: Any, eps: Any,
            wd: Any, grad: Any, out: Any = None) -> Any:
        s = scratch(var.shape, var.dtype)
        # decoupled decay first: var -= wd * var
        xp.multiply(var, wd, out=s)
        xp.subtract(var, s, out=var)
        return _adam_step(xp, s, sc, var, m, v, b1p, b2p, lr, beta1, beta2, eps, grad)
    return run


# --- RMSProp ------------------------------------------------------------------------------------

class RMSPropOptimizer(_HyperOptimizer):
    """TF1's RMSProp, slots ``rms`` (initialised to ONES, as TF1 does), ``momentum`` (zeros) and, when
    centered, ``mg`` (zeros)::

        ms  = decay * ms + (1 - decay) * grad^2
        mg  = decay * mg + (1 - decay) * grad                      (centered only)
        mom = momentum * mom + lr * grad / sqrt(ms + epsilon)      (sqrt(ms - mg^2 + epsilon) if centered)
        var -= mom
    """

    def __init__(self, learning_rate: Any, decay: Any = 0.9, momentum: Any = 0.0, epsilon: Any = 1e-10,
                 use_locking: bool = False, centered: bool = False, name: str = "RMSProp") -> None:
        super().__init__(use_locking, name, lr=learning_rate, decay=decay, momentum=momentum, epsilon=epsilon)
        self._centered = bool(centered)

    def _create_slots(self, var_list: list[Variable]) -> None:
        for v in var_list:
            self._const_slot(v, "rms", 1.0)
            if self._centered:
                self._zeros_slot(v, "mg", self._name)
            self._zeros_slot(v, "momentum", self._name)

    def _apply_dense(self, grad: Tensor, var: Variable) -> Tensor:
        ms, mom = self.get_slot(var, "rms"), self.get_slot(var, "momentum")
        hyper = [self._h("lr", var), self._h("decay", var), self._h("momentum", var), self._h("epsilon", var)]
        if self._centered:
            mg = self.get_slot(var, "mg")
            return _apply("ApplyCenteredRMSProp", var, [mg._ref_tensor(), ms._ref_tensor(), mom._ref_tensor(),
                                                        *hyper, grad])
        return _apply("ApplyRMSProp", var, [ms._ref_tensor(), mom._ref_tensor(), *hyper, grad])


def _rmsprop_kernel(centered: bool) -> Callable[[Operation, Any], Any]:
    def factory(op: Operation, ctx: Any) -> Any:
        xp = ctx.xp
        scratch, sc = _scratch(xp), _scalars(xp)

        def step(var: Any, mg: Any, ms: Any, mom: Any, lr: Any, rho: Any, momentum: Any, eps: Any,
                 grad: Any) -> Any:
            s = scratch(var.shape, var.dtype)
            c = sc("c", var.dtype)
            xp.subtract(1, rho, out=c)
            # ms += (g^2 - ms)(1 - rho) == rho ms + (1 - rho) g^2
            xp.multiply(grad, grad, out=s)
            xp.subtract(s, ms, out=s)
            xp.multiply(s, c, out=s)
            xp.add(ms, s, out=ms)
            if mg is not None:
                # mg += (g - mg)(1 - rho); denominator sqrt(ms - mg^2 + eps)
                xp.subtract(grad, mg, out=s)
                xp.multiply(s, c, out=s)
                xp.add(mg, s, out=mg)
                xp.multiply(mg, mg, out=s)
                xp.subtract(ms, s, out=s)
                xp.add(s, eps, out=s)
            else:
                xp.add(ms, eps, out=s)
            xp.sqrt(s, out=s)
            # mom = momentum mom + lr g / sqrt(...); var -= mom
            xp.divide(grad, s, out=s)
            xp.multiply(s, lr, out=s)
            xp.multiply(mom, momentum, out=mom)
            xp.add(mom, s, out=mom)
            return xp.subtract(var, mom, out=var)

        if centered:
            def run_c(var: Any, mg: Any, ms: Any, mom: Any, lr: Any, rho: Any, momentum: Any, eps: Any,
                      grad: Any, out: Any = None) -> Any:
                return step(var, mg, ms, mom, lr, rho, momentum, eps, grad)
            return run_c

        def run(var: Any, ms: Any, mom: Any, lr: Any, rho: Any, momentum: Any, eps: Any, grad: Any,
                out: Any = None) -> Any:
            return step(var, None, ms, mom, lr, rho, momentum, eps, grad)
        return run
    return factory


registry.register_kernel("ApplyRMSProp", mutates=0, stateful=True, elementwise=True)(_rmsprop_kernel(False))
registry.register_kernel("ApplyCenteredRMSProp", mutates=0, stateful=True, elementwise=True)(_rmsprop_kernel(True))


# --- Adagrad ------------------------------------------------------------------------------------

class AdagradOptimizer(_HyperOptimizer):
    """TF1's ApplyAdagrad, slot ``accumulator`` (initialised to initial_accumulator_value)::

        accum += grad^2
        var   -= lr * grad / sqrt(accum)
    """

    def __init__(self, learning_rate: Any, initial_accumulator_value: float = 0.1, use_locking: bool = False,
                 name: str = "Adagrad") -> None:
        if initial_accumulator_value <= 0.0:
            raise ValueError(f"initial_accumulator_value must be positive: {initial_accumulator_value}")
        super().__init__(use_locking, name, lr=learning_rate)
        self._initial_accumulator_value = float(initial_accumulator_value)

    def _create_slots(self, var_list: list[Variable]) -> None:
        for v in var_list:
            self._const_slot(v, "accumulator", self._initial_accumulator_value)

    def _apply_dense(self, grad: Tensor, var: Variable) -> Tensor:
        acc = self.get_slot(var, "accumulator")
        return _apply("ApplyAdagrad", var, [acc._ref_tensor(), self._h("lr", var), grad])


@registry.register_kernel("ApplyAdagrad", mutates=0, stateful=True, elementwise=True)
def _apply_adagrad_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch = _scratch(xp)

    def run(var: Any, accum: Any, lr: Any, grad: Any, out: Any = None) -> Any:
        s = scratch(var.shape, var.dtype)
        xp.multiply(grad, grad, out=s)
        xp.add(accum, s, out=accum)
        xp.sqrt(accum, out=s)
        xp.divide(grad, s, out=s)
        xp.multiply(s, lr, out=s)
        return xp.subtract(var, s, out=var)
    return run


registry.not_differentiable("ApplyGradientDescent", "ApplyMomentum", "ApplyAdam", "ApplyAdamW",
                            "ApplyRMSProp", "ApplyCenteredRMSProp", "ApplyAdagrad")
