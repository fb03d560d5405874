/* nnctl's compiled host kernels: shared definitions.
 *
 * Every kernel is a plain C loop over C-contiguous arrays, built once for float32 and once for
 * float64 (each source file includes itself through instantiate.h, once per dtype) and
 * loaded with ctypes by nnctl/runtime/native.py. Dimensions come in as int64 arguments.
 *
 * The loops do the same float operations in the same order as the numpy reference code they
 * replace: the build uses -ffp-contract=off (no fused multiply-add) and no -ffast-math (no
 * reassociation, denormals kept, NaN comparisons as IEEE says), so their results are
 * bit-identical to the numpy path, which the tests check. -fno-math-errno only lets sqrt be the
 * correctly rounded instruction without an errno branch; its values are unchanged.
 */
#ifndef NNCTL_KERNELS_H
#define NNCTL_KERNELS_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int64_t i64;

#define NNCTL_EXPORT __attribute__((visibility("default")))

/* Every kernel is also built for AVX2 and picked at load time by the CPU (GCC function
 * multiversioning on x86-64 Linux; elsewhere the baseline build only): twice the vector width
 * for the loops that compute (the LSTM step's tanh polynomials 1.8x faster, Adam's sqrt and
 * division 1.7x). AVX2 alone, not FMA: with -ffp-contract=off every product is rounded either
 * way, so both builds give the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define NNCTL_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define NNCTL_MULTIVERSION
#endif
#define NNCTL_KERNEL NNCTL_EXPORT NNCTL_MULTIVERSION

/* Kernels that need scratch allocate it and return 0, or -1 when the allocation failed (the
 * caller raises MemoryError); the others return nothing. */

#endif
