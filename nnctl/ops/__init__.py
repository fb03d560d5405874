"""Op builders and their gradient rules. Importing this package registers every op."""

from nnctl.ops import (  # noqa: F401  (imported to register kernels and gradients)
    array_grad,
    array_ops,
    conv_grad,
    conv_ops,
    image_grad,
    image_ops,
    math_grad,
    math_ops,
    nn_grad,
    nn_ops,
    overloads,
    random_ops,
    state_ops,
    variables,
)
