/* Row loops for the sequence models' ops (ops/seq_jit.py): softmax and its gradient, the row
 * scatter-add of gather's gradient, the LSTM cell's elementwise step and its gradient, and the
 * fused layer norm and its gradient. Row sums follow numpy's own summation order and no product
 * is fused into an add, so the results are bit-identical to the xp code's. */
#ifndef T
#define NNCTL_SELF "seq.c"
#include "instantiate.h"
#else

/* The sum of a[0..n) in numpy's order for n <= 128 (PW_BLOCKSIZE of numpy's pairwise_sum): eight
 * interleaved partial sums combined as ((0+1)+(2+3))+((4+5)+(6+7)), then the remainder. With b,
 * the sum of the products a*b, each rounded before it is added (xp.sum(xp.multiply(a, b))). */
static inline T F(row_sum)(const T *a, i64 n) {
    if (n < 8) {
        T res = (T)0;
        for (i64 j = 0; j < n; j++) res += a[j];
        return res;
    }
    T r[8];
    for (int k = 0; k < 8; k++) r[k] = a[k];
    const i64 m = n - n % 8;
    i64 j = 8;
    for (; j < m; j += 8)
        for (int k = 0; k < 8; k++) r[k] += a[j + k];
    T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; j < n; j++) res += a[j];
    return res;
}

static inline T F(row_dot)(const T *a, const T *b, i64 n) {
    if (n < 8) {
        T res = (T)0;
        for (i64 j = 0; j < n; j++) {
            const T p = a[j] * b[j];
            res += p;
        }
        return res;
    }
    T r[8];
    for (int k = 0; k < 8; k++) r[k] = a[k] * b[k];
    const i64 m = n - n % 8;
    i64 j = 8;
    for (; j < m; j += 8)
        for (int k = 0; k < 8; k++) {
            const T p = a[j + k] * b[j + k];
            r[k] += p;
        }
    T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; j < n; j++) {
        const T p = a[j] * b[j];
        res += p;
    }
    return res;
}

/* m = the larger of m and v, v where v is NaN: once NaN, m stays NaN (v > NaN and v != v are
 * false for any number v) */
#define NNCTL_MAX_NAN(m, v) (((v) > (m)) | ((v) != (v)) ? (v) : (m))

#if defined(__GNUC__)
/* 32 bytes of T as one GCC vector (an AVX2 register: 8 floats, 4 doubles), and its mask type */
#ifndef NNCTL_LANES_DEFINED
#define NNCTL_LANES_DEFINED
typedef float lanes_f32 __attribute__((vector_size(32)));
typedef int32_t mask_f32 __attribute__((vector_size(32)));
typedef double lanes_f64 __attribute__((vector_size(32)));
typedef int64_t mask_f64 __attribute__((vector_size(32)));
#endif
#define NL ((i64)(32 / sizeof(T)))
#define LANES F(lanes)
#define MASK F(mask)
#endif

/* out[r] = x[r] - max(x[r]) (a NaN is the max, as np.max); out may be x. The max is exact in any
 * order, so running maxima side by side (a vector of NL lanes; lane k sees elements NL i + k)
 * replace the serial scan, whose compare-and-branch chain cost more than the softmax's exp (rows
 * of 64: 0.8 -> 0.45 ms for attention's 8192 rows); the lanes' select is written on masks
 * because GCC does not vectorize the scalar select of a reduction. */
NNCTL_KERNEL void F(nnctl_sub_row_max)(const T *x, T *out, i64 rows, i64 n) {
    for (i64 r = 0; r < rows; r++) {
        const T *xr = x + r * n;
        T *o = out + r * n;
        T m = xr[0];
        i64 j = 1;
#if defined(__GNUC__)
        if (n >= 2 * NL) {
            LANES lm, v;
            memcpy(&lm, xr, sizeof lm);
            const i64 full = n - n % NL;
            for (j = NL; j < full; j += NL) {
                memcpy(&v, xr + j, sizeof v);
                const MASK take = (v > lm) | (v != v);
                lm = (LANES)(((MASK)v & take) | ((MASK)lm & ~take));
            }
            m = lm[0];
            for (int k = 1; k < NL; k++) m = NNCTL_MAX_NAN(m, lm[k]);
        }
#endif
        for (; j < n; j++) m = NNCTL_MAX_NAN(m, xr[j]);
        for (j = 0; j < n; j++) o[j] = xr[j] - m;
    }
}
#if defined(__GNUC__)
#undef LANES
#undef MASK
#undef NL
#endif

/* e[r] /= sum(e[r]) */
NNCTL_KERNEL void F(nnctl_div_row_sum)(T *e, i64 rows, i64 n) {
    for (i64 r = 0; r < rows; r++) {
        T *er = e + r * n;
        const T s = F(row_sum)(er, n);
        for (i64 j = 0; j < n; j++) er[j] = er[j] / s;
    }
}

/* out[r] = (dy[r] - sum(dy[r] * y[r])) * y[r]; out may be dy */
NNCTL_KERNEL void F(nnctl_softmax_grad)(const T *y, const T *dy, T *out, i64 rows, i64 n) {
    for (i64 r = 0; r < rows; r++) {
        const T *yr = y + r * n, *dr = dy + r * n;
        T *o = out + r * n;
        const T s = F(row_dot)(dr, yr, n);
        for (i64 j = 0; j < n; j++) o[j] = (dr[j] - s) * yr[j];
    }
}

/* out[idx[i], :] += vals[i, :] in the order i = 0, 1, ... (np.add.at's order) */
NNCTL_KERNEL void F(nnctl_scatter_add_rows)(T *restrict out, const int64_t *restrict idx,
                                            const T *restrict vals, i64 n, i64 k) {
    for (i64 i = 0; i < n; i++) {
        T *o = out + idx[i] * k;
        const T *v = vals + i * k;
        for (i64 c = 0; c < k; c++) o[c] += v[c];
    }
}

/* a = gates * scale per column ([i | j | f | o]: 1/2, 1, 1/2, 1/2); the f block (f + fb) / 2 */
NNCTL_KERNEL void F(nnctl_lstm_pre)(const T *restrict gates, const T *restrict scale, T fb, T *restrict a,
                                    i64 rows, i64 n4) {
    const i64 n = n4 / 4;
    const T half = (T)0.5;
    for (i64 r = 0; r < rows; r++) {
        const T *g = gates + r * n4;
        T *ar = a + r * n4;
        for (i64 k = 0; k < n4; k++) ar[k] = g[k] * scale[k];
        if (fb != (T)0)
            for (i64 k = 2 * n; k < 3 * n; k++) ar[k] = (g[k] + fb) * half;
    }
}

/* a holds tanh of lstm_pre's values: the sigmoid blocks become t / 2 + 1/2 (sigmoid as
 * (1 + tanh(x/2)) / 2, the Sigmoid kernel's formula); c = sf c_prev + si tj */
NNCTL_KERNEL void F(nnctl_lstm_post)(T *restrict a, const T *restrict c_prev, T *restrict c, i64 rows, i64 n) {
    const T half = (T)0.5;
    for (i64 r = 0; r < rows; r++) {
        T *ar = a + r * 4 * n;
        const T *cp = c_prev + r * n;
        T *cr = c + r * n;
        for (i64 k = 0; k < n; k++) {
            const T si = ar[k] * half + half;
            const T sf = ar[2 * n + k] * half + half;
            ar[k] = si;
            ar[2 * n + k] = sf;
            ar[3 * n + k] = ar[3 * n + k] * half + half;
            const T p = sf * cp[k], q = si * ar[n + k];
            cr[k] = p + q;
        }
    }
}

#ifdef NNCTL_F32
/* tanh in float32 as the rational approximation of ops/lstm_ops.py (TANH_F32; TF's CPU kernels
 * use the same through Eigen), operation for operation as its xp code: clamp to [-k0, k0] (NaN
 * passes), odd numerator and even denominator in x^2 in Horner order, one division.
 * k = [limit, a13, a11, a9, a7, a5, a3, a1, b6, b4, b2, b0]. */
static inline float tanh_rational(float x, const float *restrict k) {
    x = x < -k[0] ? -k[0] : x;
    x = x > k[0] ? k[0] : x;
    const float x2 = x * x;
    float p = x2 * k[1];
    p = p + k[2];
    for (int i = 3; i <= 7; i++) {
        p = p * x2;
        p = p + k[i];
    }
    p = p * x;
    float q = x2 * k[8];
    q = q + k[9];
    for (int i = 10; i <= 11; i++) {
        q = q * x2;
        q = q + k[i];
    }
    return p / q;
}

/* One whole LSTMGates step in one pass (float32): the xp code's operations in its order, with
 * tanh_rational for both of its tanh passes. act = tanh(pre) * scale + shift over [i | j | f | o]
 * (pre = gates * scale, the f block (gates + fb) * 1/2 when fb != 0); c = sf c_prev + si tj;
 * tc = tanh(c); h = so tc. */
NNCTL_KERNEL void nnctl_lstm_step_f32(const float *restrict gates, const float *restrict scale,
                                      const float *restrict shift, float fb, const float *restrict c_prev,
                                      const float *restrict k, float *restrict act, float *restrict c,
                                      float *restrict h, float *restrict tc, i64 rows, i64 n) {
    for (i64 r = 0; r < rows; r++) {
        const float *g = gates + r * 4 * n;
        float *a = act + r * 4 * n;
        for (i64 j = 0; j < n; j++) {
            const i64 e = r * n + j;
            const float pf = fb != 0.0f ? (g[2 * n + j] + fb) * 0.5f : g[2 * n + j] * scale[2 * n + j];
            const float si = tanh_rational(g[j] * scale[j], k) * scale[j] + shift[j];
            const float tj = tanh_rational(g[n + j] * scale[n + j], k) * scale[n + j] + shift[n + j];
            const float sf = tanh_rational(pf, k) * scale[2 * n + j] + shift[2 * n + j];
            const float so = tanh_rational(g[3 * n + j] * scale[3 * n + j], k) * scale[3 * n + j] + shift[3 * n + j];
            a[j] = si;
            a[n + j] = tj;
            a[2 * n + j] = sf;
            a[3 * n + j] = so;
            const float u = sf * c_prev[e], v = si * tj;
            const float ce = u + v;
            const float t = tanh_rational(ce, k);
            c[e] = ce;
            tc[e] = t;
            h[e] = so * t;
        }
    }
}
#endif

/* the LSTMGatesGrad kernel's arithmetic, operation for operation, in one pass */
NNCTL_KERNEL void F(nnctl_lstm_grad)(const T *restrict a, const T *restrict tc, const T *restrict c_prev,
                                     const T *restrict dc, const T *restrict dh, T *restrict dg,
                                     T *restrict dcp, i64 rows, i64 n) {
    const T one = (T)1;
    for (i64 r = 0; r < rows; r++) {
        const T *ar = a + r * 4 * n;
        T *g = dg + r * 4 * n;
        for (i64 k = 0; k < n; k++) {
            const i64 e = r * n + k;
            const T si = ar[k], tj = ar[n + k], sf = ar[2 * n + k], so = ar[3 * n + k];
            const T t = tc[e], d = dh[e];
            const T dct = dc[e] + (one - t * t) * (d * so);
            g[k] = ((one - si) * si) * (dct * tj);
            g[n + k] = (one - tj * tj) * (dct * si);
            g[2 * n + k] = ((one - sf) * sf) * (dct * c_prev[e]);
            g[3 * n + k] = ((one - so) * so) * (d * t);
            dcp[e] = dct * sf;
        }
    }
}

/* the LayerNorm kernel's xp arithmetic per row of x [rows, n] (layer_norm_ops.py):
 * mean = sum(x) / n, xc = x - mean, rstd = 1 / sqrt(sum(xc * xc) / n + eps),
 * y = (xc * rstd) * gamma + beta with gamma, beta repeating every p columns */
NNCTL_KERNEL void F(nnctl_layer_norm)(const T *restrict x, const T *restrict gamma, const T *restrict beta,
                                      T eps, T *restrict y, T *restrict mean, T *restrict rstd,
                                      i64 rows, i64 n, i64 p) {
    const T dn = (T)n, one = (T)1;
    for (i64 r = 0; r < rows; r++) {
        const T *xr = x + r * n;
        T *yr = y + r * n;
        const T mu = F(row_sum)(xr, n) / dn;
        for (i64 j = 0; j < n; j++) yr[j] = xr[j] - mu;
        const T rs = one / SQRT(F(row_dot)(yr, yr, n) / dn + eps);
        mean[r] = mu;
        rstd[r] = rs;
        for (i64 b = 0; b < n; b += p)
            for (i64 q = 0; q < p; q++) {
                const T s = yr[b + q] * rs, t = s * gamma[q];
                yr[b + q] = t + beta[q];
            }
    }
}

/* the LayerNormGrad kernel's xp arithmetic per row: xhat = (x - mean) rstd, g = dy gamma,
 * dx = rstd ((g - sum(g)/n) - xhat sum(g xhat)/n); dgamma, dbeta summed over the rows (and the
 * repeats of gamma within a row) in order, as numpy's sum over axis 0 adds them. */
NNCTL_KERNEL int F(nnctl_layer_norm_grad)(const T *restrict dy, const T *restrict x, const T *restrict gamma,
                                          const T *restrict mean, const T *restrict rstd, T *restrict dx,
                                          T *restrict dgamma, T *restrict dbeta, i64 rows, i64 n, i64 p) {
    T *restrict xh = malloc((size_t)(2 * n + 1) * sizeof(T));
    if (!xh) return -1;
    T *restrict g = xh + n;
    const T dn = (T)n;
    for (i64 j = 0; j < p; j++) dgamma[j] = dbeta[j] = (T)0;
    for (i64 r = 0; r < rows; r++) {
        const T *dr = dy + r * n, *xr = x + r * n;
        T *o = dx + r * n;
        const T mu = mean[r], rs = rstd[r];
        for (i64 j = 0; j < n; j++) xh[j] = (xr[j] - mu) * rs;
        for (i64 b = 0; b < n; b += p)
            for (i64 q = 0; q < p; q++) g[b + q] = dr[b + q] * gamma[q];
        const T mg = F(row_sum)(g, n) / dn;
        const T mgx = F(row_dot)(g, xh, n) / dn;
        for (i64 j = 0; j < n; j++) {
            const T u = g[j] - mg, v = xh[j] * mgx;
            o[j] = rs * (u - v);
        }
        for (i64 b = 0; b < n; b += p)
            for (i64 q = 0; q < p; q++) {
                const T t = dr[b + q] * xh[b + q];
                dgamma[q] += t;
                dbeta[q] += dr[b + q];
            }
    }
    free(xh);
    return 0;
}

#endif
