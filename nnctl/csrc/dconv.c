/* Direct convolution, NHWC x HWIO, without a column matrix (ops/conv_kernels.py, "direct"):
 * Conv2D, its input gradient (strided: unit strides run the forward loops over the flipped kernel)
 * and its filter gradient as register-blocked loops of fused multiply-adds.
 *
 * im2col + GEMM writes, then reads, a column matrix kh*kw times the size of the input (75 MB for
 * a 3x3 convolution over a 32x32x16 batch of 128), and OpenBLAS runs such thin GEMMs (16 to 64
 * output channels) well below the machine's peak. Here each block of output values stays in
 * registers while the window is read straight from x (through a pointer per pixel and kernel
 * offset, a row of zeros where the window leaves the image), and the weights are read packed by
 * blocks of output channels.
 *
 * Every output value is one chain of fused multiply-adds, acc = fma(x, w, acc), over (i, j, c)
 * in that order (forward) or over (n, oh, ow) in that order (filter gradient), starting from 0.
 * The vectors run across output channels, which are independent, and the blocking only decides
 * which chains advance together, so the bits depend neither on the vector width (the AVX-512 or
 * the AVX2 variant, picked by the CPU) nor on how the work is split over threads. They differ
 * from im2col + BLAS in rounding only (BLAS sums in its own order), which the tests bound.
 *
 * These loops alone are compiled with contraction (fp-contract=fast through NNCTL_CONTRACT) so
 * that `acc += x * w` is one rounding; nnctl_direct_conv_ok() says whether this CPU has the fused
 * instructions, and the callers keep im2col + GEMM where it does not. */
#ifndef T
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define DC_X86 1
#endif
#define NNCTL_SELF "dconv.c"
#include "instantiate.h"

/* 1 where the loops below run with FMA on this CPU (AVX2+FMA or AVX-512 on x86-64; AArch64,
 * where every float multiply-add can fuse), 0 elsewhere. */
NNCTL_EXPORT int nnctl_direct_conv_ok(void) {
#if defined(DC_X86)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#elif defined(__aarch64__) && defined(__GNUC__) && !defined(__clang__)
    return 1;
#else
    return 0;
#endif
}

/* The filter gradient's tasks split the input channels into blocks of this many (the callers
 * count the tasks with it): 12 for the AVX-512 loops, 6 for the others. */
NNCTL_EXPORT long nnctl_direct_conv_channels(void) {
#if defined(DC_X86)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 12 : 6;
#else
    return 6;
#endif
}
#else

#ifndef NNCTL_DCONV_COMMON
#define NNCTL_DCONV_COMMON
#if defined(__GNUC__) && !defined(__clang__)
#define NNCTL_CONTRACT __attribute__((optimize("fp-contract=fast")))
#else
#define NNCTL_CONTRACT
#endif
#define DC_CAT2(a, b) a##_##b
#define DC_CAT(a, b) DC_CAT2(a, b)
#if defined(DC_X86)
static int dc_wide(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#endif
#endif

#define OB ((i64)(64 / sizeof(T)))   /* output channels per block: 64 bytes */

#if defined(DC_X86)
#define DC_VB 64   /* 32 zmm registers: 12 accumulators of one zmm */
#define DC_PB 12
#define DC_CB 12
#define DC_SUFFIX v4
#define DC_TARGET __attribute__((target("arch=x86-64-v4")))
#include "dconv_body.h"
#undef DC_VB
#undef DC_PB
#undef DC_CB
#undef DC_SUFFIX
#undef DC_TARGET
#define DC_VB 32   /* 16 ymm registers: 6 accumulators of two ymm */
#define DC_PB 6
#define DC_CB 6
#define DC_SUFFIX v3
#define DC_TARGET __attribute__((target("arch=x86-64-v3")))
#include "dconv_body.h"
#undef DC_VB
#undef DC_PB
#undef DC_CB
#undef DC_SUFFIX
#undef DC_TARGET
#define DC_PICK(name) (dc_wide() ? F(name##_v4) : F(name##_v3))
#else
#define DC_VB 16
#define DC_PB 6
#define DC_CB 6
#define DC_SUFFIX vg
#define DC_TARGET
#include "dconv_body.h"
#undef DC_VB
#undef DC_PB
#undef DC_CB
#undef DC_SUFFIX
#undef DC_TARGET
#define DC_PICK(name) F(name##_vg)
#endif

/* y[q, o] for the output pixels q in [p_lo, p_hi) (flattened over n, oh, ow) =
 *   sum over (i, j, c) of x[n, oh*sh + i*dh - pt, ow*sw + j*dw - pl, c] * w[i, j, c, o];
 * wpk holds w as [ceil(o_/OB), kh*kw*c_, OB], zero beyond o_. -1 if scratch failed. */
NNCTL_EXPORT int F(nnctl_conv_direct)(const T *restrict x, const T *restrict wpk, T *restrict y, i64 n_,
                                      i64 h_, i64 w_, i64 c_, i64 oh_, i64 ow_, i64 o_, i64 kh_, i64 kw_,
                                      i64 pt, i64 pl, i64 sh, i64 sw, i64 dh, i64 dw, i64 p_lo, i64 p_hi) {
    (void)n_;
    return DC_PICK(conv)(x, wpk, y, 0, h_, w_, c_, oh_, ow_, o_, kh_, kw_, pt, pl, sh, sw, dh, dw, p_lo, p_hi);
}

/* dx[q, c] for the input pixels q in [p_lo, p_hi) (flattened over n, h, w) = the sum over (i, j, o)
 * of dy[n, oh, ow, o] * w[i, j, c, o] where oh*sh = h + pt - i*dh and ow*sw = w + pl - j*dw fall
 * on dy's grid; wtpk holds w as [ceil(c_/OB), kh*kw*o_, OB] (w transposed to [i, j, o, c]), zero
 * beyond c_. The padding and strides are the forward convolution's. -1 if scratch failed. */
NNCTL_EXPORT int F(nnctl_conv_direct_input)(const T *restrict dy, const T *restrict wtpk, T *restrict dx,
                                            i64 n_, i64 h_, i64 w_, i64 c_, i64 oh_, i64 ow_, i64 o_, i64 kh_,
                                            i64 kw_, i64 pt, i64 pl, i64 sh, i64 sw, i64 dh, i64 dw, i64 p_lo,
                                            i64 p_hi) {
    (void)n_;
    return DC_PICK(conv)(dy, wtpk, dx, 1, h_, w_, c_, oh_, ow_, o_, kh_, kw_, pt, pl, sh, sw, dh, dw, p_lo,
                         p_hi);
}

/* dwpk[ob, (i, j), c, :] += sum over (n, oh, ow) of x[n, h, w, c] * dy[n, oh, ow, ob*OB..] for the
 * tasks t in [t_lo, t_hi) (t = ((i*kw + j) * ncb + cb) * nob + ob, cb a block of nnctl_direct_conv_channels() channels);
 * dy's rows are ldo >= nob*OB apart (zero beyond o_); dwpk [nob, kh*kw, c_, OB] starts at 0.
 * Images are the outer loop, so that one image's x and dy stay in cache across the tasks; each
 * value's chain still runs over (n, oh, ow) in order. */
NNCTL_EXPORT void F(nnctl_conv_direct_filter)(const T *restrict x, const T *restrict dy, T *restrict dwpk,
                                              i64 n_, i64 h_, i64 w_, i64 c_, i64 oh_, i64 ow_, i64 o_,
                                              i64 ldo, i64 kh_, i64 kw_, i64 pt, i64 pl, i64 sh, i64 sw,
                                              i64 dh, i64 dw, i64 t_lo, i64 t_hi) {
    DC_PICK(filter)(x, dy, dwpk, n_, h_, w_, c_, oh_, ow_, o_, ldo, kh_, kw_, pt, pl, sh, sw, dh, dw, t_lo,
                    t_hi);
}

#undef OB
#undef DC_PICK
#endif
