/* The plan's one-pass elementwise loops: the optimizer updates and the activation gradients
 * (runtime/jit.py). Each reads every operand once and writes each result once, with the numpy
 * reference's operations in its order (train/optimizers.py, ops/math_ops.py, ops/nn_ops.py). */
#ifndef T
#define NNCTL_SELF "plan.c"
#include "instantiate.h"
#else

/* TF1's Adam (training_ops.cc), as train.optimizers._adam_step, in the variable's dtype:
 * lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
 * var -= (m / (sqrt(v) + eps)) lr_t */
NNCTL_KERNEL void F(nnctl_adam)(T *restrict var, T *restrict m, T *restrict v, const T *restrict g,
                                const T *b1p, const T *b2p, const T *lr, const T *beta1,
                                const T *beta2, const T *eps, i64 n) {
    const T o = (T)1;
    const T lr_t = SQRT(o - b2p[0]) * lr[0] / (o - b1p[0]);
    const T c1 = o - beta1[0], c2 = o - beta2[0], e = eps[0];
    for (i64 i = 0; i < n; i++) {
        const T gi = g[i];
        const T mi = m[i] + (gi - m[i]) * c1;
        const T vi = v[i] + (gi * gi - v[i]) * c2;
        m[i] = mi;
        v[i] = vi;
        var[i] = var[i] - (mi / (SQRT(vi) + e)) * lr_t;
    }
}

/* accum = accum * momentum + grad; var -= accum * lr, or (accum * momentum + grad) * lr */
NNCTL_KERNEL void F(nnctl_momentum)(T *restrict var, T *restrict accum, const T *lr, const T *mom,
                                    const T *restrict g, i64 nesterov, i64 n) {
    const T lr0 = lr[0], mo = mom[0];
    if (nesterov) {
        for (i64 i = 0; i < n; i++) {
            const T a = accum[i] * mo + g[i];
            accum[i] = a;
            var[i] = var[i] - (a * mo + g[i]) * lr0;
        }
    } else {
        for (i64 i = 0; i < n; i++) {
            const T a = accum[i] * mo + g[i];
            accum[i] = a;
            var[i] = var[i] - a * lr0;
        }
    }
}

/* var -= grad * lr */
NNCTL_KERNEL void F(nnctl_gradient_descent)(T *restrict var, const T *lr, const T *restrict g, i64 n) {
    const T lr0 = lr[0];
    for (i64 i = 0; i < n; i++) var[i] = var[i] - g[i] * lr0;
}

/* Activation gradients out = f(a, b), each in three loops: out apart from both inputs, or
 * written over a or over b (the plan's in-place reuse). Separate loops so that the compiler
 * vectorizes each without run-time overlap checks (restrict holds in every one). */
#define NNCTL_BINARY(name, EXPR)                                                               \
    NNCTL_KERNEL void F(nnctl_##name##_apart)(const T *restrict a, const T *restrict b,         \
                                              T *restrict out, i64 n) {                        \
        for (i64 i = 0; i < n; i++) { const T x = a[i], y = b[i]; out[i] = (EXPR); }            \
    }                                                                                          \
    NNCTL_KERNEL void F(nnctl_##name##_over_a)(T *restrict a, const T *restrict b, i64 n) {     \
        for (i64 i = 0; i < n; i++) { const T x = a[i], y = b[i]; a[i] = (EXPR); }              \
    }                                                                                          \
    NNCTL_KERNEL void F(nnctl_##name##_over_b)(const T *restrict a, T *restrict b, i64 n) {     \
        for (i64 i = 0; i < n; i++) { const T x = a[i], y = b[i]; b[i] = (EXPR); }              \
    }

/* relu_grad(dy, y): dy * (y > 0), the bool becoming 1 or 0 of dy's type and then one product
 * (so -dy * 0 = -0 and nan * 0 = nan, as on the numpy path) */
NNCTL_BINARY(relu_grad, x * (T)(y > (T)0))
/* sigmoid_grad(y, dy): ((1 - y) * y) * dy, in numpy's order */
NNCTL_BINARY(sigmoid_grad, (((T)1 - x) * x) * y)
/* tanh_grad(y, dy): (1 - y * y) * dy, in numpy's order */
NNCTL_BINARY(tanh_grad, ((T)1 - x * x) * y)
#undef NNCTL_BINARY

#endif
