"""Building requests for the TF Serving API and reading their answers (any TF Serving
client does the same; this is what `tfgrad.client`, the tests and the benchmarks use)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from tensorflow_serving.apis import predict_pb2


def walk_request(model_name: str, items: Sequence[str], attributes: Sequence[str],
                 directions: Sequence[str], steps: int = 10, signature_name: str = "walk",
                 version: Optional[int] = None, decoding: str = "") -> predict_pb2.PredictRequest:
    """A PredictRequest for B walks; attributes/directions may be comma-joined per walk;
    decoding "greedy", "gradual" or "" (the export's default)."""
    import tensorflow as tf

    return predict_request(model_name, signature_name, {
        "item": (list(items), tf.string), "attribute": (list(attributes), tf.string),
        "direction": (list(directions), tf.string), "steps": (steps, tf.int32),
        "decoding": (decoding, tf.string)}, version)


def walk_response(response) -> dict:
    """PredictResponse -> {"item_ids", "item_names" (str arrays), "scores", "strengths"}."""
    outputs = response_arrays(response)
    for alias in ("item_ids", "item_names"):
        if alias in outputs:
            outputs[alias] = np.char.decode(outputs[alias].astype(bytes))
    return outputs


def predict_request(model_name: str, signature_name: str, inputs: dict,
                    version: Optional[int] = None) -> predict_pb2.PredictRequest:
    """A PredictRequest of any signature: inputs {alias: (value, tf dtype)}."""
    import tensorflow as tf

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    for alias, (value, dtype) in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
    return request


def response_arrays(response) -> dict:
    """PredictResponse -> {alias: np.ndarray} (strings stay bytes: they may be images)."""
    import tensorflow as tf

    return {alias: tf.make_ndarray(proto) for alias, proto in response.outputs.items()}
