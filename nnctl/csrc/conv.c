/* The copy- and scatter-heavy parts of convolution and pooling (ops/conv_jit.py), NHWC: im2col,
 * col2im, max pooling and its gradient. Each is one loop nest that reads and writes every element
 * once; every output element is written by one iteration in a fixed order, so the bits never
 * depend on how the batch is split over threads (the callers may split it, see conv_jit.py). */
#ifndef T
#define NNCTL_SELF "conv.c"
#include "instantiate.h"
#else

/* cols[n, oh, ow, i, j, c] = x[n, oh*sh + i*dh - pt, ow*sw + j*dw - pl, c], 0 outside x */
NNCTL_KERNEL void F(nnctl_im2col)(const T *restrict x, T *restrict cols, i64 n_, i64 h_, i64 w_, i64 c_,
                                  i64 oh_, i64 ow_, i64 kh_, i64 kw_, i64 pt, i64 pl, i64 sh, i64 sw,
                                  i64 dh, i64 dw) {
    for (i64 n = 0; n < n_; n++)
        for (i64 oh = 0; oh < oh_; oh++)
            for (i64 ow = 0; ow < ow_; ow++) {
                T *dst = cols + (((n * oh_ + oh) * ow_ + ow) * kh_ * kw_) * c_;
                for (i64 i = 0; i < kh_; i++) {
                    const i64 h = oh * sh + i * dh - pt;
                    for (i64 j = 0; j < kw_; j++, dst += c_) {
                        const i64 w = ow * sw + j * dw - pl;
                        /* loops, not memcpy/memset: runs of c_ values are short, a libc call each costs more */
                        if (0 <= h && h < h_ && 0 <= w && w < w_) {
                            const T *src = x + ((n * h_ + h) * w_ + w) * c_;
                            for (i64 c = 0; c < c_; c++) dst[c] = src[c];
                        } else {
                            for (i64 c = 0; c < c_; c++) dst[c] = (T)0;
                        }
                    }
                }
            }
}

/* dx[n, h, w, c] = the sum of dcols[n, oh, ow, i, j, c] over the (oh, ow, i, j) that read (h, w),
 * image by image. The terms are added to 0 in kernel-offset order, as the xp code does, so both
 * paths give the same bits; disjoint windows (tiles) assign. (Offset-major order also keeps
 * consecutive updates on distinct pixels: walking the windows instead, each pixel is updated
 * again a few operations after its last store, and the store-to-load chains made it 2x slower.) */
NNCTL_KERNEL void F(nnctl_col2im)(const T *restrict dcols, T *restrict dx, i64 n_, i64 h_, i64 w_, i64 c_,
                                  i64 oh_, i64 ow_, i64 kh_, i64 kw_, i64 pt, i64 pl, i64 sh, i64 sw,
                                  i64 dh, i64 dw, i64 tiles) {
    for (i64 n = 0; n < n_; n++) {
        T *img = dx + n * h_ * w_ * c_;
        memset(img, 0, (size_t)(h_ * w_ * c_) * sizeof(T));
        for (i64 i = 0; i < kh_; i++)
            for (i64 j = 0; j < kw_; j++)
                for (i64 oh = 0; oh < oh_; oh++) {
                    const i64 h = oh * sh + i * dh - pt;
                    if (h < 0 || h >= h_) continue;
                    for (i64 ow = 0; ow < ow_; ow++) {
                        const i64 w = ow * sw + j * dw - pl;
                        if (w < 0 || w >= w_) continue;
                        const T *src = dcols + ((((n * oh_ + oh) * ow_ + ow) * kh_ + i) * kw_ + j) * c_;
                        T *dst = img + (h * w_ + w) * c_;
                        if (tiles)
                            for (i64 c = 0; c < c_; c++) dst[c] = src[c];
                        else
                            for (i64 c = 0; c < c_; c++) dst[c] += src[c];
                    }
                }
    }
}

/* y = the max over the window's in-bounds pixels (padding never wins); NaN propagates like
 * np.maximum: once y holds NaN no comparison replaces it, and a NaN input always replaces */
NNCTL_KERNEL void F(nnctl_max_pool)(const T *restrict x, T *restrict y, i64 n_, i64 h_, i64 w_, i64 c_,
                                    i64 oh_, i64 ow_, i64 kh_, i64 kw_, i64 sh, i64 sw, i64 pt, i64 pl) {
    for (i64 n = 0; n < n_; n++)
        for (i64 oh = 0; oh < oh_; oh++) {
            const i64 h0 = oh * sh - pt > 0 ? oh * sh - pt : 0;
            const i64 h1 = oh * sh - pt + kh_ < h_ ? oh * sh - pt + kh_ : h_;
            for (i64 ow = 0; ow < ow_; ow++) {
                const i64 w0 = ow * sw - pl > 0 ? ow * sw - pl : 0;
                const i64 w1 = ow * sw - pl + kw_ < w_ ? ow * sw - pl + kw_ : w_;
                T *out = y + ((n * oh_ + oh) * ow_ + ow) * c_;
                const T *first = x + ((n * h_ + h0) * w_ + w0) * c_;
                for (i64 c = 0; c < c_; c++) out[c] = first[c];
                for (i64 h = h0; h < h1; h++)
                    for (i64 w = w0; w < w1; w++) {
                        const T *px = x + ((n * h_ + h) * w_ + w) * c_;
                        for (i64 c = 0; c < c_; c++) {   /* a select, not a branch: it vectorizes */
                            const T v = px[c], m = out[c];
                            out[c] = (v > m) | (v != v) ? v : m;
                        }
                    }
            }
        }
}

/* Each window's dy goes to its first offset (row-major) whose value equals the window's max y
 * (TF's rule), padding counting as -inf as in the xp code; a NaN max equals nothing, so that
 * window routes nowhere. sel[n, oh, ow, c] = that offset, found scanning the offsets backwards so
 * the earliest match is the last written (int32: a window has fewer offsets). Then, offset by
 * offset as the xp code, every window adds dy * (sel == offset) at that offset's pixel, so both
 * paths give the same bits. */
NNCTL_KERNEL void F(nnctl_max_pool_grad)(const T *restrict x, const T *restrict y, const T *restrict dy,
                                         T *restrict dx, int32_t *restrict sel, i64 n_, i64 h_, i64 w_,
                                         i64 c_, i64 oh_, i64 ow_, i64 kh_, i64 kw_, i64 sh, i64 sw,
                                         i64 pt, i64 pl) {
    for (i64 n = 0; n < n_; n++) {
        for (i64 oh = 0; oh < oh_; oh++)
            for (i64 ow = 0; ow < ow_; ow++) {
                const i64 o = ((n * oh_ + oh) * ow_ + ow) * c_;
                for (i64 c = 0; c < c_; c++) sel[o + c] = -1;
                for (i64 k = kh_ * kw_ - 1; k >= 0; k--) {
                    const i64 h = oh * sh - pt + k / kw_, w = ow * sw - pl + k % kw_;
                    if (0 <= h && h < h_ && 0 <= w && w < w_) {
                        const T *px = x + ((n * h_ + h) * w_ + w) * c_;
                        for (i64 c = 0; c < c_; c++)
                            sel[o + c] = px[c] == y[o + c] ? (int32_t)k : sel[o + c];
                    } else {
                        for (i64 c = 0; c < c_; c++)
                            sel[o + c] = y[o + c] == -(T)INFINITY ? (int32_t)k : sel[o + c];
                    }
                }
            }
        T *img = dx + n * h_ * w_ * c_;
        memset(img, 0, (size_t)(h_ * w_ * c_) * sizeof(T));
        for (i64 k = 0; k < kh_ * kw_; k++)
            for (i64 oh = 0; oh < oh_; oh++) {
                const int32_t kk = (int32_t)k;
                const i64 h = oh * sh - pt + k / kw_;
                if (h < 0 || h >= h_) continue;
                for (i64 ow = 0; ow < ow_; ow++) {
                    const i64 w = ow * sw - pl + k % kw_;
                    if (w < 0 || w >= w_) continue;
                    const i64 o = ((n * oh_ + oh) * ow_ + ow) * c_;
                    T *dst = img + (h * w_ + w) * c_;
                    for (i64 c = 0; c < c_; c++) dst[c] += dy[o + c] * (T)(sel[o + c] == kk);
                }
            }
    }
}

/* Disjoint unpadded windows (stride = size): every pixel is in at most one window, so one pass per
 * window writes its pixels dy * (offset == the first maximum's) directly (the same values as the
 * offset-by-offset loop above, with no zero fill and no second pass): scanning the offsets in
 * order, a pixel is the first maximum where it equals y and no earlier one did (found[c]).
 * Pixels of a ragged edge that no window covers are zeroed. */
NNCTL_KERNEL int F(nnctl_max_pool_grad_tiles)(const T *restrict x, const T *restrict y, const T *restrict dy,
                                              T *restrict dx, i64 n_, i64 h_, i64 w_, i64 c_, i64 oh_,
                                              i64 ow_, i64 kh_, i64 kw_) {
    int32_t *restrict found = malloc((size_t)(c_ > 0 ? c_ : 1) * sizeof(int32_t));
    if (!found) return -1;
    for (i64 n = 0; n < n_; n++)
        for (i64 oh = 0; oh < oh_; oh++) {
            for (i64 ow = 0; ow < ow_; ow++) {
                const i64 o = ((n * oh_ + oh) * ow_ + ow) * c_;
                const T *yo = y + o, *dyo = dy + o;
                for (i64 c = 0; c < c_; c++) found[c] = 0;
                for (i64 k = 0; k < kh_ * kw_; k++) {
                    const i64 e = ((n * h_ + oh * kh_ + k / kw_) * w_ + ow * kw_ + k % kw_) * c_;
                    const T *px = x + e;
                    T *dst = dx + e;
                    for (i64 c = 0; c < c_; c++) {
                        const int32_t first = (px[c] == yo[c]) & !found[c];
                        dst[c] = dyo[c] * (T)first;
                        found[c] |= first;
                    }
                }
            }
            for (i64 i = 0; i < kh_; i++)
                for (i64 w = ow_ * kw_; w < w_; w++)
                    memset(dx + ((n * h_ + oh * kh_ + i) * w_ + w) * c_, 0, (size_t)c_ * sizeof(T));
            if (oh == oh_ - 1)
                for (i64 h = oh_ * kh_; h < h_; h++)
                    memset(dx + (n * h_ + h) * w_ * c_, 0, (size_t)(w_ * c_) * sizeof(T));
        }
    free(found);
    return 0;
}

#endif
