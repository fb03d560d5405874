"""Op builders and their gradient rules. Importing this package registers every op."""

from nnctl.ops import (  # noqa: F401  (imported to register kernels and gradients)
    array_grad,
    array_ops,
    candidate_sampling_ops,
    control_flow_grad,
    control_flow_ops,
    math_extra_ops,
    math_grad,
    math_ops,
    metric_ops,
    nn_compat_ops,
    nn_grad,
    nn_ops,
    overloads,
    random_ops,
    range_ops,
    selection_ops,
    shape_grad,
    shape_ops,
    state_ops,
    variables,
)
