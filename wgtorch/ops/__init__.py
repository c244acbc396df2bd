"""Every op, defined once with its forward and backward: pointwise, reduce, shape, linalg, index."""
