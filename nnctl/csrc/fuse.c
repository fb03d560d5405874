/* Fused elementwise chains (runtime/fusion.py): a bound plan's chain of elementwise ops (layer
 * norm's subtract-scale-shift, a bias add and its relu, the gradients' products) evaluated in one
 * pass over memory instead of one numpy pass per op.
 *
 * The chain is a program of instructions (op, dst, a, b) over registers: registers 0..nin-1 are the
 * inputs, each of a kind over the output's [rows, cols] view (FU_FULL: one value per element;
 * FU_ROW: one per column, a [cols] array; FU_COL: one per row, a [rows] array; FU_SCALAR: one
 * value), the others hold intermediate results. The output is walked row by row in blocks of
 * FU_BLOCK columns; each instruction is one loop over the block (which the compiler vectorizes),
 * so the intermediates live in L1 and only the inputs and the output touch memory. The last
 * instruction writes the output, which may be exactly one of the FU_FULL inputs (a dying input
 * written over): every instruction reads a block before the last one writes it.
 *
 * Each op does numpy's float operations (ops/math_ops.py, ops/nn_ops.py) with no contraction
 * (-ffp-contract=off), so the results are bit-identical to the unfused steps, which the tests check. */
#ifndef T
#define NNCTL_SELF "fuse.c"
#include "instantiate.h"
#else

#ifndef NNCTL_FUSE_COMMON
#define NNCTL_FUSE_COMMON
enum { FU_FULL = 0, FU_ROW = 1, FU_COL = 2, FU_SCALAR = 3 };
/* keep in step with runtime/fusion.py's OPCODES */
enum {
    FU_ADD = 0, FU_SUB, FU_MUL, FU_DIV, FU_NEG, FU_SQUARE, FU_SQDIFF, FU_SQRT, FU_RSQRT, FU_RELU,
    FU_RELU_GRAD, FU_COPY
};
#define FU_BLOCK 512
#endif

/* out[r, :] for r in [r0, r1) = the program over the inputs. ptrs: the inputs' addresses; kinds:
 * their FU_* kinds; prog: 4 int32 per instruction; regs: scratch of nreg * FU_BLOCK values (the
 * caller's, so that the bound step allocates nothing). Rows are independent: the callers may split
 * them over threads without changing a bit. */
/* one instruction over n values; d is never a or b where `restrict` is promised (the callers) */
#define FU_APPLY(OP, d, a, b, n)                                                                     \
    switch (OP) {                                                                                    \
    case FU_ADD: for (i64 k = 0; k < n; k++) d[k] = a[k] + b[k]; break;                              \
    case FU_SUB: for (i64 k = 0; k < n; k++) d[k] = a[k] - b[k]; break;                              \
    case FU_MUL: for (i64 k = 0; k < n; k++) d[k] = a[k] * b[k]; break;                              \
    case FU_DIV: for (i64 k = 0; k < n; k++) d[k] = a[k] / b[k]; break;                              \
    case FU_NEG: for (i64 k = 0; k < n; k++) d[k] = -a[k]; break;                                    \
    case FU_SQUARE: for (i64 k = 0; k < n; k++) d[k] = a[k] * a[k]; break;                           \
    case FU_SQDIFF:                                                                                  \
        for (i64 k = 0; k < n; k++) {                                                                \
            const T t_ = a[k] - b[k];                                                                \
            d[k] = t_ * t_;                                                                          \
        }                                                                                            \
        break;                                                                                       \
    case FU_SQRT: for (i64 k = 0; k < n; k++) d[k] = SQRT(a[k]); break;                              \
    case FU_RSQRT:                                                                                   \
        for (i64 k = 0; k < n; k++) {                                                                \
            const T s_ = SQRT(a[k]);                                                                 \
            d[k] = (T)1 / s_;                                                                        \
        }                                                                                            \
        break;                                                                                       \
    /* np.maximum(x, 0): x where x > 0 or x is NaN, else +0 (also for x = -0) */                     \
    case FU_RELU: for (i64 k = 0; k < n; k++) d[k] = (a[k] > (T)0) | (a[k] != a[k]) ? a[k] : (T)0; break; \
    /* ReluGrad(dy, y) = dy * (y > 0), the mask a 0/1 of T */                                        \
    case FU_RELU_GRAD: for (i64 k = 0; k < n; k++) d[k] = a[k] * (T)(b[k] > (T)0); break;           \
    /* a broadcast (BroadcastLike): the operand's values, spread by its kind */                      \
    case FU_COPY: for (i64 k = 0; k < n; k++) d[k] = a[k]; break;                                    \
    default: break;                                                                                  \
    }

/* an instruction into a register of its own (SSA: never one of its operands) */
static inline void F(fu_apply_reg)(int op, T *restrict d, const T *restrict a, const T *restrict b, i64 n) {
    FU_APPLY(op, d, a, b, n)
}

/* the last instruction, into the output, which may be exactly one of the inputs */
static inline void F(fu_apply_out)(int op, T *d, const T *a, const T *b, i64 n) {
    FU_APPLY(op, d, a, b, n)
}

NNCTL_KERNEL void F(nnctl_fused_chain)(const int64_t *ptrs, const int64_t *kinds, i64 nin, const int32_t *prog,
                                       i64 nprog, T *regs, i64 nreg, T *out, i64 r0, i64 r1, i64 cols) {
    const T *src[64];
    if (nreg > 64 || r1 <= r0) return;  /* the planner never makes more registers */
    /* a block holds g whole rows where they are short (one row's blocks otherwise), so that the
     * loops run long: a per-column operand is then g copies of its row, made once */
    const i64 g = cols < FU_BLOCK ? FU_BLOCK / cols : 1;
    for (i64 i = 0; i < nin; i++) {
        const T *p = (const T *)(intptr_t)ptrs[i];
        T *b = regs + i * FU_BLOCK;
        if (kinds[i] == FU_SCALAR) {
            for (i64 k = 0; k < FU_BLOCK; k++) b[k] = p[0];
            src[i] = b;
        } else if (kinds[i] == FU_ROW && g > 1) {
            for (i64 j = 0; j < g; j++)
                for (i64 c = 0; c < cols; c++) b[j * cols + c] = p[c];
            src[i] = b;
        }
    }
    for (i64 r = r0; r < r1; r += g) {
        const i64 rows = r1 - r < g ? r1 - r : g;
        for (i64 c0 = 0; c0 < cols; c0 += FU_BLOCK) {
            const i64 len = g > 1 ? rows * cols : (cols - c0 < FU_BLOCK ? cols - c0 : FU_BLOCK);
            for (i64 i = 0; i < nin; i++) {
                const T *p = (const T *)(intptr_t)ptrs[i];
                if (kinds[i] == FU_FULL) {
                    src[i] = p + r * cols + c0;
                } else if (kinds[i] == FU_ROW && g == 1) {
                    src[i] = p + c0;
                } else if (kinds[i] == FU_COL) {
                    T *b = regs + i * FU_BLOCK;
                    for (i64 j = 0; j < rows; j++) {
                        const T v = p[r + j];
                        const i64 m = g > 1 ? cols : len;
                        for (i64 k = 0; k < m; k++) b[j * cols + k] = v;
                    }
                    src[i] = b;
                }
            }
            for (i64 q = 0; q < nprog; q++) {
                const int32_t *ins = prog + 4 * q;
                const T *a = src[ins[2]], *b = ins[3] >= 0 ? src[ins[3]] : a;
                if (q == nprog - 1) {
                    F(fu_apply_out)(ins[0], out + r * cols + c0, a, b, len);
                } else {
                    T *d = regs + (i64)ins[1] * FU_BLOCK;
                    F(fu_apply_reg)(ins[0], d, a, b, len);
                    src[ins[1]] = d;
                }
            }
        }
    }
}

#endif
