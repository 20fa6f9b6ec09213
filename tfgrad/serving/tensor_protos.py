"""TensorProto <-> NumPy for the server's hot path.

`tf.make_ndarray` / `tf.make_tensor_proto` cost 40-100 µs a tensor (dtype lookups, version
checks, generic conversion), about half of the server's own Python time per walk request in
the profile (`benchmarks/serving_profile.py`, docs/PERFORMANCE.md). The common forms a client sends and the server
answers (strings in `string_val`, numbers in `tensor_content` or in their one `*_val` field,
as many values as the shape holds) are read and written directly here; anything else goes
through TensorFlow's converters, so the results are always the same as theirs.
"""

from __future__ import annotations

import math

import numpy as np
from tensorflow.core.framework import types_pb2

# dtype enum -> (NumPy dtype, the repeated field that may hold its values).
_NUMERIC = {
    types_pb2.DT_FLOAT: (np.dtype(np.float32), "float_val"),
    types_pb2.DT_DOUBLE: (np.dtype(np.float64), "double_val"),
    types_pb2.DT_INT32: (np.dtype(np.int32), "int_val"),
    types_pb2.DT_INT64: (np.dtype(np.int64), "int64_val"),
    types_pb2.DT_BOOL: (np.dtype(np.bool_), "bool_val"),
}
_ENUM_OF = {numpy_dtype: enum for enum, (numpy_dtype, _) in _NUMERIC.items()}


def to_array(proto) -> np.ndarray:
    """TensorProto -> np.ndarray (strings as an object array of bytes, as tf.make_ndarray).

    Raises whatever tf.make_ndarray raises for a proto that is not a tensor.
    """
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    size = math.prod(shape)
    if all(d >= 0 for d in shape):
        if proto.dtype == types_pb2.DT_STRING and len(proto.string_val) == size:
            array = np.empty(size, dtype=object)
            array[:] = proto.string_val
            return array.reshape(shape)
        if proto.dtype in _NUMERIC:
            dtype, field = _NUMERIC[proto.dtype]
            if proto.tensor_content:
                if len(proto.tensor_content) == size * dtype.itemsize:
                    return np.frombuffer(proto.tensor_content, dtype).reshape(shape).copy()
            elif len(getattr(proto, field)) == size:
                return np.array(getattr(proto, field), dtype=dtype).reshape(shape)
    import tensorflow as tf

    return tf.make_ndarray(proto)


def fill_proto(proto, array: np.ndarray) -> None:
    """Writes `array` into the empty TensorProto `proto` (what tf.make_tensor_proto makes)."""
    if array.dtype.kind in "SO":
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(array.reshape(-1).tolist())
    elif array.dtype in _ENUM_OF:
        proto.dtype = _ENUM_OF[array.dtype]
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    else:
        import tensorflow as tf

        proto.CopyFrom(tf.make_tensor_proto(array))
        return
    for size in array.shape:
        proto.tensor_shape.dim.add().size = size
