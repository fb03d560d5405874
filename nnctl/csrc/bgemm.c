/* Batched small matrix products (ops/matmul_jit.py): C[b] = A[b] @ B[b] for a batch of matrices
 * too small for BLAS to run well, attention's [64, 32] x [32, 64] per head and example. BLAS makes
 * one call per matrix there (numpy's matmul loops over the batch), each paying its checks, its
 * buffer and its packing for 130 thousand multiply-adds; this loop packs B[b] into a panel once
 * and runs a register-blocked FMA kernel over it.
 *
 * A[b] and B[b] are read through element strides (a transposed operand is a stride swap); C[b]
 * is C-contiguous [M, N]. Every value of C is one chain of fused multiply-adds over k = 0..K-1
 * from 0, and the vectors run across columns, so the bits depend neither on the vector width nor
 * on how the batch is split over threads (the callers split it). They differ from BLAS's in
 * rounding only, which the tests bound. Compiled with contraction (NNCTL_CONTRACT) and used where
 * nnctl_direct_conv_ok() says the CPU fuses (dconv.c). */
#ifndef T
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define BG_X86 1
#endif
#define NNCTL_SELF "bgemm.c"
#include "instantiate.h"
#else

#ifndef NNCTL_BGEMM_COMMON
#define NNCTL_BGEMM_COMMON
#if defined(__GNUC__) && !defined(__clang__)
#define BG_CONTRACT __attribute__((optimize("fp-contract=fast")))
#else
#define BG_CONTRACT
#endif
#if defined(BG_X86)
#define BG_TARGET __attribute__((target("arch=x86-64-v3")))
#else
#define BG_TARGET
#endif
#define BG_MR 6   /* rows of C per block: 6 x 2 vector accumulators, 2 for B's row, 1 for A's value */
#endif

#define BG_VL ((i64)(32 / sizeof(T)))   /* values per vector: 8 floats, 4 doubles */
#define BG_NB (2 * BG_VL)               /* columns of C per block */
#define BGV F(bg_vec)
typedef T BGV __attribute__((vector_size(32)));

/* C[i0 .. i0+MR, j0 .. j0+nj] of one matrix: MR rows of A against the panel's BG_NB columns at
 * pk, each value one FMA chain over k (MR 6: 12 accumulators; MR 4 for the rows left after them) */
#define BG_BLOCK(MR)                                                                                   \
    BG_TARGET BG_CONTRACT static inline void F(bg_block##MR)(const T *a0, const T *pk, T *dst, i64 k_,  \
                                                               i64 np, i64 sai, i64 sak, i64 ldc, i64 nj) { \
        BGV acc[MR][2];                                                                                \
        for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = (BGV){0};                                 \
        for (i64 k = 0; k < k_; k++, pk += np) {                                                       \
            BGV b0, b1;                                                                                \
            memcpy(&b0, pk, sizeof b0);                                                                \
            memcpy(&b1, pk + BG_VL, sizeof b1);                                                        \
            const T *ak = a0 + k * sak;                                                                \
            for (int r = 0; r < MR; r++) {                                                             \
                const T x = ak[r * sai];                                                               \
                acc[r][0] += x * b0;                                                                   \
                acc[r][1] += x * b1;                                                                   \
            }                                                                                          \
        }                                                                                              \
        for (int r = 0; r < MR; r++) {                                                                 \
            if (nj == BG_NB) {                                                                         \
                memcpy(dst + r * ldc, &acc[r][0], sizeof acc[r][0]);                                   \
                memcpy(dst + r * ldc + BG_VL, &acc[r][1], sizeof acc[r][1]);                           \
            } else {                                                                                   \
                T tmp[2 * 32 / sizeof(T)];                                                             \
                memcpy(tmp, &acc[r][0], sizeof acc[r][0]);                                             \
                memcpy(tmp + BG_VL, &acc[r][1], sizeof acc[r][1]);                                     \
                for (i64 j = 0; j < nj; j++) dst[r * ldc + j] = tmp[j];                                \
            }                                                                                          \
        }                                                                                              \
    }
BG_BLOCK(6)
BG_BLOCK(4)
#undef BG_BLOCK

/* C[b] for b in [b_lo, b_hi): the batch index b is (b1, b2) = (b / nb2, b % nb2), so that two batch
 * axes (examples and heads of a transposed view) need not collapse into one stride. a_addr, b_addr
 * and c_addr: the first elements of A, B and C (views of any strides, hence addresses; C's rows
 * contiguous, ldc apart, so that C may be a transposed view: the heads written straight into the
 * [batch, time, heads * depth] layout that follows them); every stride is in elements. panel:
 * scratch of K * ceil(N / BG_NB) * BG_NB values. */
BG_TARGET BG_CONTRACT NNCTL_EXPORT void F(nnctl_bgemm)(int64_t a_addr, int64_t b_addr, int64_t c_addr, T *panel,
                                                       i64 m_, i64 n_, i64 k_, i64 nb2, i64 sab1, i64 sab2,
                                                       i64 sai, i64 sak, i64 sbb1, i64 sbb2, i64 sbk, i64 sbj,
                                                       i64 scb1, i64 scb2, i64 ldc, i64 b_lo, i64 b_hi) {
    const T *a = (const T *)(intptr_t)a_addr, *bm = (const T *)(intptr_t)b_addr;
    T *c = (T *)(intptr_t)c_addr;
    const i64 np = (n_ + BG_NB - 1) / BG_NB * BG_NB;
    for (i64 b = b_lo; b < b_hi; b++) {
        const T *ab = a + (b / nb2) * sab1 + (b % nb2) * sab2, *bb = bm + (b / nb2) * sbb1 + (b % nb2) * sbb2;
        T *cb = c + (b / nb2) * scb1 + (b % nb2) * scb2;
        /* B[b] as [K, np], zero beyond N: every block loads whole vectors. A transposed B (k
         * its contiguous axis) is read along its rows and written across the panel, which stays
         * in L1, rather than gathered a column at a time. */
        if (sbk == 1 && sbj != 1) {
            for (i64 j = 0; j < n_; j++) {
                const T *src = bb + j * sbj;
                for (i64 k = 0; k < k_; k++) panel[k * np + j] = src[k];
            }
            for (i64 k = 0; k < k_; k++)
                for (i64 j = n_; j < np; j++) panel[k * np + j] = (T)0;
        } else {
            for (i64 k = 0; k < k_; k++) {
                T *row = panel + k * np;
                const T *src = bb + k * sbk;
                for (i64 j = 0; j < n_; j++) row[j] = src[j * sbj];
                for (i64 j = n_; j < np; j++) row[j] = (T)0;
            }
        }
        for (i64 j0 = 0; j0 < np; j0 += BG_NB) {
            const i64 nj = n_ - j0 < BG_NB ? n_ - j0 : BG_NB;
            i64 i0 = 0;
            for (; i0 + BG_MR <= m_; i0 += BG_MR)
                F(bg_block6)(ab + i0 * sai, panel + j0, cb + i0 * ldc + j0, k_, np, sai, sak, ldc, nj);
            for (; i0 + 4 <= m_; i0 += 4)
                F(bg_block4)(ab + i0 * sai, panel + j0, cb + i0 * ldc + j0, k_, np, sai, sak, ldc, nj);
            for (; i0 < m_; i0++) {  /* the rows after the last whole block, one at a time */
                BGV acc0 = (BGV){0}, acc1 = (BGV){0};
                const T *a0 = ab + i0 * sai;
                for (i64 k = 0; k < k_; k++) {
                    BGV b0, b1;
                    memcpy(&b0, panel + k * np + j0, sizeof b0);
                    memcpy(&b1, panel + k * np + j0 + BG_VL, sizeof b1);
                    const T x = a0[k * sak];
                    acc0 += x * b0;
                    acc1 += x * b1;
                }
                T tmp[2 * 32 / sizeof(T)];
                memcpy(tmp, &acc0, sizeof acc0);
                memcpy(tmp + BG_VL, &acc1, sizeof acc1);
                T *dst = cb + i0 * ldc + j0;
                for (i64 j = 0; j < nj; j++) dst[j] = tmp[j];
            }
        }
    }
}

#undef BG_VL
#undef BG_NB
#undef BGV
#endif
