/* The build stamp: the digest of the sources and flags this library was compiled from
 * (runtime/native_build.py computes it, setup.py passes it in, runtime/native.py compares it). */
#include "kernels.h"

#ifndef NNCTL_KERNELS_DIGEST
#define NNCTL_KERNELS_DIGEST "unknown"
#endif

NNCTL_EXPORT const char *nnctl_kernels_digest(void) { return NNCTL_KERNELS_DIGEST; }
