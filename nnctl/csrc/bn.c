/* Batch norm's row passes over x viewed as [M, C] (ops/bn_ops.py): the statistics and the
 * gradient's sums in float64, row by row from row 0 (numpy's order over axis 0), and the two
 * elementwise applications in x's dtype. The float64 sums live in local arrays (mean, var may be
 * the caller's float32 outputs), so the channel loops vectorize with the order per channel kept. */
#ifndef T
#define NNCTL_SELF "bn.c"
#include "instantiate.h"
#else

/* mean, var (float64 [C]) = the mean and the biased variance of x over its rows */
NNCTL_KERNEL int F(nnctl_bn_stats)(const T *restrict x, double *restrict mean, double *restrict var,
                                   i64 rows, i64 cols) {
    double *restrict s = malloc((size_t)(2 * cols + 1) * sizeof(double));
    if (!s) return -1;
    double *restrict mu = s + cols;
    for (i64 c = 0; c < cols; c++) s[c] = (double)x[c];
    for (i64 i = 1; i < rows; i++)
        for (i64 c = 0; c < cols; c++) s[c] += (double)x[i * cols + c];
    for (i64 c = 0; c < cols; c++) mu[c] = s[c] / (double)rows;
    for (i64 c = 0; c < cols; c++) {
        const double d = (double)x[c] - mu[c];
        s[c] = d * d;
    }
    for (i64 i = 1; i < rows; i++)
        for (i64 c = 0; c < cols; c++) {
            const double d = (double)x[i * cols + c] - mu[c];
            const double dd = d * d;
            s[c] += dd;
        }
    for (i64 c = 0; c < cols; c++) {
        mean[c] = mu[c];
        var[c] = s[c] / (double)rows;
    }
    free(s);
    return 0;
}

/* y = (x - mu) * a + offset, in x's dtype */
NNCTL_KERNEL void F(nnctl_bn_apply)(const T *restrict x, const T *restrict mu, const T *restrict a,
                                    const T *restrict offset, T *restrict y, i64 rows, i64 cols) {
    for (i64 i = 0; i < rows; i++)
        for (i64 c = 0; c < cols; c++) {
            const T t = (x[i * cols + c] - mu[c]) * a[c];
            y[i * cols + c] = t + offset[c];
        }
}

/* sdy = sum(dy), sdyx = sum(dy (x - mu)) in float64, row by row from row 0 */
NNCTL_KERNEL int F(nnctl_bn_grad_sums)(const T *restrict dy, const T *restrict x, const double *restrict mu,
                                       double *restrict sdy, double *restrict sdyx, i64 rows, i64 cols) {
    double *restrict s = malloc((size_t)(3 * cols + 1) * sizeof(double));
    if (!s) return -1;
    double *restrict m = s, *restrict a = s + cols, *restrict b = s + 2 * cols;
    for (i64 c = 0; c < cols; c++) {
        m[c] = mu[c];
        const double g = (double)dy[c];
        a[c] = g;
        b[c] = ((double)x[c] - m[c]) * g;
    }
    for (i64 i = 1; i < rows; i++)
        for (i64 c = 0; c < cols; c++) {
            const double g = (double)dy[i * cols + c];
            const double t = ((double)x[i * cols + c] - m[c]) * g;
            a[c] += g;
            b[c] += t;
        }
    for (i64 c = 0; c < cols; c++) {
        sdy[c] = a[c];
        sdyx[c] = b[c];
    }
    free(s);
    return 0;
}

/* dx = (dy k1 + (x - mu) k2) + k3, in x's dtype */
NNCTL_KERNEL void F(nnctl_bn_grad_apply)(const T *restrict dy, const T *restrict x, const T *restrict mu,
                                         const T *restrict k1, const T *restrict k2, const T *restrict k3,
                                         T *restrict dx, i64 rows, i64 cols) {
    for (i64 i = 0; i < rows; i++)
        for (i64 c = 0; c < cols; c++) {
            const i64 e = i * cols + c;
            const T p = dy[e] * k1[c], q = (x[e] - mu[c]) * k2[c];
            dx[e] = (p + q) + k3[c];
        }
}

#endif
