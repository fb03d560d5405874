/* Builds the including kernel file once per dtype: it defines NNCTL_SELF (its own name) and
 * includes this header when T is not defined yet; its kernels then see T (the element type),
 * F(name) (name_f32 / name_f64, the exported symbol) and SQRT. */
#include "kernels.h"

#define T float
#define F(name) name##_f32
#define SQRT sqrtf
#include NNCTL_SELF
#undef T
#undef F
#undef SQRT

#define T double
#define F(name) name##_f64
#define SQRT sqrt
#include NNCTL_SELF
#undef T
#undef F
#undef SQRT
#undef NNCTL_SELF
