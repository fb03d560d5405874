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
static inline T F(row_max)(const T *xr, i64 n) {
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
    return m;
}

NNCTL_KERNEL void F(nnctl_sub_row_max)(const T *x, T *out, i64 rows, i64 n) {
    for (i64 r = 0; r < rows; r++) {
        const T *xr = x + r * n;
        T *o = out + r * n;
        const T m = F(row_max)(xr, n);
        for (i64 j = 0; j < n; j++) o[j] = xr[j] - m;
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

#ifdef NNCTL_F32
/* numpy's float32 exp, operation for operation: the loop numpy runs on x86-64 CPUs with AVX2 and
 * FMA3 (numpy/_core/src/umath/loops_exponent_log.dispatch.c.src, simd_exp_FLOAT; its constants
 * from npy_math.h). Each lane is computed alone: NaN -> 0 and x >= XMAX or x <= XMIN -> 0 before
 * the arithmetic (the results then NaN, inf, 0); k = rint(x log2 e) by the 1.5 * 2^23 trick;
 * r = x + k c1 + k c2 + k 0 as three FMAs (Cody-Waite); exp(r) = P5(r) / Q2(r), each in FMA Horner
 * form; times 2^k by adding k to the exponent bits, or for k <= -125 (a denormal result) adding
 * -125 and dividing by 2^(-125 - k). numpy's own loop differs only in its masked loads and stores,
 * which are slow on AMD CPUs (on the benchmark VM np.exp takes 1.4 ns a value, this loop 0.96).
 * Both the vector and the scalar form gave np.exp's bits for all 2^32 float32 values there; the
 * fused softmax uses them only once seq_jit.py's probe finds them equal in the process (numpy's
 * AVX-512 loop, or another numpy, would not pass). */
#define NPE_XMAX 88.72283935546875f
#define NPE_XMIN -103.97208404541015625f
#define NPE_LOG2E 1.442695040888963407359924681001892137f
#define NPE_MAGIC 0x1.800000p+23f
#define NPE_C1 -6.93145752e-1f
#define NPE_C2 -1.42860677e-6f
#define NPE_P0 9.999999999980870924916e-01f
#define NPE_P1 7.257664613233124478488e-01f
#define NPE_P2 2.473615434895520810817e-01f
#define NPE_P3 5.114512081637298353406e-02f
#define NPE_P4 6.757896990527504603057e-03f
#define NPE_P5 5.082762527590693718096e-04f
#define NPE_Q0 1.000000000000000000000e+00f
#define NPE_Q1 -2.742335390411667452936e-01f
#define NPE_Q2 2.159509375685829852307e-02f

static inline float np_exp_scalar(float x) {
    const int nan = x != x;
    if (nan) x = 0.0f;
    const int big = x >= NPE_XMAX, small = x <= NPE_XMIN;
    if (big || small) x = 0.0f;
    float k = x * NPE_LOG2E;
    k = k + NPE_MAGIC;
    k = k - NPE_MAGIC;
    float r = fmaf(k, NPE_C1, x);
    r = fmaf(k, NPE_C2, r);
    r = fmaf(k, 0.0f, r);
    float num = fmaf(NPE_P5, r, NPE_P4);
    num = fmaf(num, r, NPE_P3);
    num = fmaf(num, r, NPE_P2);
    num = fmaf(num, r, NPE_P1);
    num = fmaf(num, r, NPE_P0);
    float den = fmaf(NPE_Q2, r, NPE_Q1);
    den = fmaf(den, r, NPE_Q0);
    float poly = num / den;
    uint32_t bits;
    memcpy(&bits, &poly, sizeof bits);
    if (k <= -125.0f) {
        const int32_t shift = (int32_t)(0.0f - (k - -125.0f));
        bits += (uint32_t)(int32_t)-125 << 23;
        memcpy(&poly, &bits, sizeof poly);
        poly = poly / (float)(int32_t)(shift < 32 ? 1u << shift : 0u);
    } else {
        bits += (uint32_t)(int32_t)k << 23;
        memcpy(&poly, &bits, sizeof poly);
    }
    if (nan) return __builtin_nanf("");
    if (big) return __builtin_inff();
    if (small) return 0.0f;
    return poly;
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#define NPE_AVX2 __attribute__((target("avx2,fma")))
NPE_AVX2 static inline __m256 np_exp_avx2(__m256 x) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 nan = _mm256_cmp_ps(x, x, _CMP_NEQ_UQ);
    x = _mm256_blendv_ps(x, zero, nan);
    const __m256 big = _mm256_cmp_ps(x, _mm256_set1_ps(NPE_XMAX), _CMP_GE_OQ);
    const __m256 small = _mm256_cmp_ps(x, _mm256_set1_ps(NPE_XMIN), _CMP_LE_OQ);
    x = _mm256_blendv_ps(x, zero, _mm256_or_ps(_mm256_or_ps(nan, small), big));
    __m256 k = _mm256_mul_ps(x, _mm256_set1_ps(NPE_LOG2E));
    k = _mm256_add_ps(k, _mm256_set1_ps(NPE_MAGIC));
    k = _mm256_sub_ps(k, _mm256_set1_ps(NPE_MAGIC));
    x = _mm256_fmadd_ps(k, _mm256_set1_ps(NPE_C1), x);
    x = _mm256_fmadd_ps(k, _mm256_set1_ps(NPE_C2), x);
    x = _mm256_fmadd_ps(k, zero, x);
    __m256 num = _mm256_fmadd_ps(_mm256_set1_ps(NPE_P5), x, _mm256_set1_ps(NPE_P4));
    num = _mm256_fmadd_ps(num, x, _mm256_set1_ps(NPE_P3));
    num = _mm256_fmadd_ps(num, x, _mm256_set1_ps(NPE_P2));
    num = _mm256_fmadd_ps(num, x, _mm256_set1_ps(NPE_P1));
    num = _mm256_fmadd_ps(num, x, _mm256_set1_ps(NPE_P0));
    __m256 den = _mm256_fmadd_ps(_mm256_set1_ps(NPE_Q2), x, _mm256_set1_ps(NPE_Q1));
    den = _mm256_fmadd_ps(den, x, _mm256_set1_ps(NPE_Q0));
    __m256 poly = _mm256_div_ps(num, den);
    const __m256 minq = _mm256_set1_ps(-125.0f);
    const __m256 denorm = _mm256_cmp_ps(k, minq, _CMP_LE_OQ);
    if (_mm256_movemask_ps(denorm)) {
        __m256 diff = _mm256_sub_ps(zero, _mm256_sub_ps(k, minq));
        diff = _mm256_blendv_ps(zero, diff, denorm);
        const __m256i two = _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_cvtps_epi32(diff));
        const __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(_mm256_max_ps(k, minq)), 23);
        poly = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(poly), e));
        poly = _mm256_blendv_ps(poly, _mm256_div_ps(poly, _mm256_cvtepi32_ps(two)), denorm);
    } else {
        const __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(k), 23);
        poly = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(poly), e));
    }
    poly = _mm256_blendv_ps(poly, _mm256_set1_ps(__builtin_nanf("")), nan);
    poly = _mm256_blendv_ps(poly, _mm256_set1_ps(__builtin_inff()), big);
    return _mm256_blendv_ps(poly, zero, small);
}

NPE_AVX2 static void np_exp_row_avx2(float *v, i64 n) {
    i64 j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(v + j, np_exp_avx2(_mm256_loadu_ps(v + j)));
    if (j < n) {  /* the remainder as one vector: every lane is computed alone */
        float tail[8] = {0};
        memcpy(tail, v + j, (size_t)(n - j) * sizeof *v);
        _mm256_storeu_ps(tail, np_exp_avx2(_mm256_loadu_ps(tail)));
        memcpy(v + j, tail, (size_t)(n - j) * sizeof *v);
    }
}

static int np_exp_has_avx2(void) {
    static int has = -1;
    if (has < 0) has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return has;
}
#else
#define np_exp_has_avx2() 0
#define np_exp_row_avx2(v, n) ((void)0)
#endif

/* v[0 .. n) = exp(v) in place, with np.exp's float32 bits (above) */
static inline void np_exp_row(float *v, i64 n) {
    if (np_exp_has_avx2()) {
        np_exp_row_avx2(v, n);
        return;
    }
    for (i64 j = 0; j < n; j++) v[j] = np_exp_scalar(v[j]);
}

/* out = exp(x) elementwise: what seq_jit.py probes against np.exp, and the tests */
NNCTL_EXPORT void nnctl_np_exp_f32(const float *x, float *out, i64 n) {
    if (out != x) memcpy(out, x, (size_t)n * sizeof *out);
    np_exp_row(out, n);
}
#define ROW_EXP np_exp_row
#else
/* float64: numpy's exp is the C library's on CPUs without AVX-512 (seq_jit.py probes it) */
static inline void libm_exp_row(double *v, i64 n) {
    for (i64 j = 0; j < n; j++) v[j] = exp(v[j]);
}

NNCTL_EXPORT void nnctl_np_exp_f64(const double *x, double *out, i64 n) {
    for (i64 j = 0; j < n; j++) out[j] = exp(x[j]);
}
#define ROW_EXP libm_exp_row
#endif

/* o = softmax(o) in place over one row: o - max(o), exp as np.exp (above), / sum in numpy's order */
static inline void F(softmax_row)(T *o, i64 n) {
    const T m = F(row_max)(o, n);
    for (i64 j = 0; j < n; j++) o[j] = o[j] - m;
    ROW_EXP(o, n);
    const T s = F(row_sum)(o, n);
    for (i64 j = 0; j < n; j++) o[j] = o[j] / s;
}

/* out[r] = softmax(x[r]) in one pass over each row while it is in cache: the three passes of
 * seq_jit.softmax_rows (x - max, np.exp, / sum in numpy's order) with the same operations. out may
 * be x. Attention's [8192, 64]: 0.87 ms, the three passes 1.23. */
NNCTL_KERNEL void F(nnctl_softmax_rows)(const T *x, T *out, i64 rows, i64 n) {
    for (i64 r = 0; r < rows; r++) {
        T *o = out + r * n;
        if (o != x + r * n) memcpy(o, x + r * n, (size_t)n * sizeof *o);
        F(softmax_row)(o, n);
    }
}

/* out[r] = softmax(x[r] * c), or of x[r] / c (div != 0): the scaled scores of attention, the
 * product (quotient) rounded as the Mul (RealDiv) op rounds it, then softmax_rows' arithmetic.
 * out is not x. */
NNCTL_KERNEL void F(nnctl_softmax_rows_scaled)(const T *restrict x, T c, i64 div, T *restrict out, i64 rows,
                                               i64 n) {
    for (i64 r = 0; r < rows; r++) {
        const T *xr = x + r * n;
        T *o = out + r * n;
        if (div)
            for (i64 j = 0; j < n; j++) o[j] = xr[j] / c;
        else
            for (i64 j = 0; j < n; j++) o[j] = xr[j] * c;
        F(softmax_row)(o, n);
    }
}

/* out[r] = softmax(x[r] * c + mask[m[r]]) (div 0; div 1: x[r] / c): a masked attention's scores,
 * scale then mask added as their ops round them (c = 1 for unscaled scores: x * 1 is x); m[r] is the
 * mask row that broadcasting gives score row r */
NNCTL_KERNEL void F(nnctl_softmax_rows_masked)(const T *restrict x, T c, i64 div, const T *restrict mask,
                                               const int64_t *restrict m, T *restrict out, i64 rows, i64 n) {
    for (i64 r = 0; r < rows; r++) {
        const T *xr = x + r * n, *mr = mask + m[r] * n;
        T *o = out + r * n;
        if (div)
            for (i64 j = 0; j < n; j++) o[j] = xr[j] / c;
        else
            for (i64 j = 0; j < n; j++) o[j] = xr[j] * c;
        for (i64 j = 0; j < n; j++) o[j] = o[j] + mr[j];
        F(softmax_row)(o, n);
    }
}

/* SparseSoftmaxCrossEntropyWithLogits' xp arithmetic per row, but its log (nn_ops.py takes np.log
 * of the sums): b = x - max(x); picked = b[label]; b = exp(b) as np.exp; s = sum(b) in numpy's
 * order; b = b / s; b[label] -= 1. Labels are in [0, n) (the caller checks). */
NNCTL_KERNEL void F(nnctl_sparse_xent_rows)(const T *restrict x, const int64_t *restrict lab, T *restrict b,
                                            T *restrict sums, T *restrict picked, i64 rows, i64 n) {
    for (i64 r = 0; r < rows; r++) {
        const T *xr = x + r * n;
        T *o = b + r * n;
        const T m = F(row_max)(xr, n);
        for (i64 j = 0; j < n; j++) o[j] = xr[j] - m;
        picked[r] = o[lab[r]];
        ROW_EXP(o, n);
        const T s = F(row_sum)(o, n);
        sums[r] = s;
        for (i64 j = 0; j < n; j++) o[j] = o[j] / s;
        o[lab[r]] -= (T)1;
    }
}
#undef ROW_EXP

/* out[r] = ((dy[r] - sum(dy[r] * y[r])) * y[r]) * c, or / c (div != 0): SoftmaxGrad, then the
 * gradient of the scores' scale; out may be dy */
NNCTL_KERNEL void F(nnctl_softmax_grad_scaled)(const T *y, const T *dy, T c, i64 div, T *out, i64 rows, i64 n) {
    for (i64 r = 0; r < rows; r++) {
        const T *yr = y + r * n, *dr = dy + r * n;
        T *o = out + r * n;
        const T s = F(row_dot)(dr, yr, n);
        if (div)
            for (i64 j = 0; j < n; j++) {
                const T g = (dr[j] - s) * yr[j];
                o[j] = g / c;
            }
        else
            for (i64 j = 0; j < n; j++) {
                const T g = (dr[j] - s) * yr[j];
                o[j] = g * c;
            }
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

/* of one row: mean = sum(x) / n, xc = x - mean (into xc); returns var + eps = sum(xc * xc) / n + eps */
static inline T F(ln_row_stats)(const T *restrict xr, T *restrict xc, i64 n, T eps, T *mu) {
    const T dn = (T)n;
    const T m = F(row_sum)(xr, n) / dn;
    for (i64 j = 0; j < n; j++) xc[j] = xr[j] - m;
    *mu = m;
    return F(row_dot)(xc, xc, n) / dn + eps;
}

/* the LayerNorm kernel's xp arithmetic per row of x [rows, n] (layer_norm_ops.py):
 * mean = sum(x) / n, xc = x - mean, rstd = 1 / sqrt(sum(xc * xc) / n + eps),
 * y = (xc * rstd) * gamma + beta with gamma, beta repeating every p columns */
NNCTL_KERNEL void F(nnctl_layer_norm)(const T *restrict x, const T *restrict gamma, const T *restrict beta,
                                      T eps, T *restrict y, T *restrict mean, T *restrict rstd,
                                      i64 rows, i64 n, i64 p) {
    for (i64 r = 0; r < rows; r++) {
        T *yr = y + r * n;
        T mu;
        const T rs = (T)1 / SQRT(F(ln_row_stats)(x + r * n, yr, n, eps, &mu));
        mean[r] = mu;
        rstd[r] = rs;
        for (i64 b = 0; b < n; b += p)
            for (i64 q = 0; q < p; q++) {
                const T s = yr[b + q] * rs, t = s * gamma[q];
                yr[b + q] = t + beta[q];
            }
    }
}

/* The same statistics, y as tf.nn.batch_normalization(x, mean, var, beta, gamma, eps) computes it
 * from them (ops/nn_ops.py, TF's order): inv = rstd * gamma, y = x * inv + (beta - mean * inv) */
NNCTL_KERNEL void F(nnctl_layer_norm_bn)(const T *restrict x, const T *restrict gamma, const T *restrict beta,
                                         T eps, T *restrict y, T *restrict mean, T *restrict rstd,
                                         i64 rows, i64 n, i64 p) {
    for (i64 r = 0; r < rows; r++) {
        const T *xr = x + r * n;
        T *yr = y + r * n;
        T mu;
        const T rs = (T)1 / SQRT(F(ln_row_stats)(xr, yr, n, eps, &mu));
        mean[r] = mu;
        rstd[r] = rs;
        for (i64 b = 0; b < n; b += p)
            for (i64 q = 0; q < p; q++) {
                const T inv = rs * gamma[q], m = mu * inv, shift = beta[q] - m, v = xr[b + q] * inv;
                yr[b + q] = v + shift;
            }
    }
}

/* The same statistics, y = (xc / sd) * gamma + beta with sd = sqrt(var + eps), which it writes in
 * place of the rstd: (x - mean) / tf.sqrt(var + eps) * gamma + beta, the ops' arithmetic */
NNCTL_KERNEL void F(nnctl_layer_norm_div)(const T *restrict x, const T *restrict gamma, const T *restrict beta,
                                          T eps, T *restrict y, T *restrict mean, T *restrict sd,
                                          i64 rows, i64 n, i64 p) {
    for (i64 r = 0; r < rows; r++) {
        T *yr = y + r * n;
        T mu;
        const T s = SQRT(F(ln_row_stats)(x + r * n, yr, n, eps, &mu));
        mean[r] = mu;
        sd[r] = s;
        for (i64 b = 0; b < n; b += p)
            for (i64 q = 0; q < p; q++) {
                const T u = yr[b + q] / s, t = u * gamma[q];
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
