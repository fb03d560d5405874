/* Builds the including kernel file once per dtype: it defines NNCTL_SELF (its own name) and
 * includes this header when T is not defined yet; its kernels then see T (the element type),
 * F(name) (name_f32 / name_f64, the exported symbol), SQRT, and NNCTL_F32 in the float32 pass
 * (for kernels that exist in float32 only). */
#include "kernels.h"

#define T float
#define F(name) name##_f32
#define SQRT sqrtf
#define NNCTL_F32 1
#include NNCTL_SELF
#undef T
#undef F
#undef SQRT
#undef NNCTL_F32

#define T double
#define F(name) name##_f64
#define SQRT sqrt
#include NNCTL_SELF
#undef T
#undef F
#undef SQRT
#undef NNCTL_SELF
