"""The served model: the newest numeric version under a base path, swapped in when a newer one
appears (TensorFlow Serving's default "latest" version policy).

A request takes a reference to the current version once and keeps it until it answers, so a swap
never fails a request in flight; the old version is released when its last request is done.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import Callable, Optional

import numpy as np
from absl import logging


class ServingError(Exception):
    """An error answered to the client, with its gRPC status code name (e.g. "NOT_FOUND")."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclasses.dataclass(frozen=True)
class SignatureSpec:
    """One signature's inputs and outputs: alias -> (dtype name, shape with -1 for unknown)."""

    inputs: dict
    outputs: dict


@dataclasses.dataclass
class Servable:
    """One loaded version of the model."""

    version: int
    path: str
    export: object  # tfgrad.export.versioned.LoadedExport
    meta_graph: object  # tensorflow.core.protobuf.meta_graph_pb2.MetaGraphDef
    signatures: dict  # name -> SignatureSpec
    # How the batcher splits each signature's outputs, learnt on this version's first merged
    # call (tfgrad.serving.batching); it lives and dies with the version.
    batch_layouts: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)


def read_meta_graph(path: str):
    """The SavedModel's MetaGraphDef, whose signature_def map GetModelMetadata returns."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    return saved_model.meta_graphs[0]


def signature_specs(meta_graph) -> dict:
    import tensorflow as tf

    def describe(tensor_infos):
        return {alias: (tf.dtypes.as_dtype(info.dtype).name,
                        tuple(-1 if info.tensor_shape.unknown_rank else d.size
                              for d in info.tensor_shape.dim)
                        if not info.tensor_shape.unknown_rank else None)
                for alias, info in tensor_infos.items()}

    return {name: SignatureSpec(describe(definition.inputs), describe(definition.outputs))
            for name, definition in meta_graph.signature_def.items()
            if not name.startswith("__")}


def load_servable(path: str, version: int) -> Servable:
    from tfgrad.export.versioned import load_export

    export = load_export(path)
    meta_graph = read_meta_graph(path)
    return Servable(version=version, path=path, export=export, meta_graph=meta_graph,
                    signatures=signature_specs(meta_graph))


def numeric_versions(base_path: str) -> list[int]:
    """Version folders holding a SavedModel, ascending (staging folders are not numeric)."""
    if not os.path.isdir(base_path):
        return []
    return sorted(int(name) for name in os.listdir(base_path)
                  if name.isdigit()
                  and os.path.exists(os.path.join(base_path, name, "saved_model.pb")))


class ModelManager:
    """Loads the newest version of one model and polls for newer ones.

    Args:
      name: the model name clients put in model_spec.name.
      base_path: the folder of numeric version folders.
      poll_seconds: how often to look for a newer version (0: never, load once).
      loader: loads one version folder (tests swap in a counting loader).
    """

    def __init__(self, name: str, base_path: str, poll_seconds: float = 2.0,
                 loader: Callable[[str, int], Servable] = load_servable):
        self.name = name
        self.base_path = base_path
        self.poll_seconds = poll_seconds
        self.loader = loader
        self._current: Optional[Servable] = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.failed_versions: dict[int, str] = {}

    def start(self) -> Servable:
        """Loads the newest version (raising if there is none) and starts polling."""
        if not os.path.isdir(self.base_path):
            raise FileNotFoundError(f"model base path {self.base_path!r} does not exist")
        if not self.refresh():
            raise FileNotFoundError(
                f"model base path {self.base_path!r} holds no loadable numeric version folder"
                + (f" (failed: {self.failed_versions})" if self.failed_versions else ""))
        if self.poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll, name="version-poller",
                                            daemon=True)
            self._thread.start()
        return self._current

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(self.poll_seconds * 2, 1.0))

    def current(self) -> Optional[Servable]:
        return self._current

    def refresh(self) -> bool:
        """Loads the newest version if it is newer than the current one; True if one serves.

        A version that fails to load is logged and remembered, and the current one keeps
        serving: a bad export never takes the model down.
        """
        current = self._current
        for version in reversed(numeric_versions(self.base_path)):
            if current is not None and version <= current.version:
                break
            if version in self.failed_versions:
                continue
            try:
                servable = self.loader(os.path.join(self.base_path, str(version)), version)
            except Exception as error:  # noqa: BLE001 - any load failure keeps the old version
                self.failed_versions[version] = str(error).splitlines()[0] if str(error) else (
                    type(error).__name__)
                logging.error("model %s: version %d failed to load: %s", self.name, version,
                              self.failed_versions[version])
                continue
            with self._lock:
                self._current = servable
            logging.warning("model %s: serving version %d from %s", self.name, version,
                            servable.path)
            break
        return self._current is not None

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.refresh()


def resolve_servable(manager: ModelManager, model_name: str, version: Optional[int] = None,
                     version_label: str = "") -> Servable:
    """The servable a request names, or NOT_FOUND with TF Serving's message."""
    if model_name != manager.name:
        spec = f"Specific({model_name}, {version})" if version is not None else (
            f"Latest({model_name})")
        raise ServingError("NOT_FOUND", f"Servable not found for request: {spec}")
    servable = manager.current()
    if version_label:
        raise ServingError("NOT_FOUND", f"Unrecognized servable version label: {version_label}")
    if servable is None:
        raise ServingError("NOT_FOUND", f"Servable not found for request: Latest({model_name})")
    if version is not None and version != servable.version:
        raise ServingError("NOT_FOUND",
                           f"Servable not found for request: Specific({model_name}, {version})")
    return servable


def check_inputs(servable: Servable, signature_name: str, inputs: dict, output_filter=(),
                 max_request_rows: int = 0) -> dict:
    """The checks TF Serving makes before it runs a signature (names, dtypes, shapes) and the
    server's own request-size limit: alias -> np.ndarray in the signature's dtype, or
    ServingError. The signature's graph checks the values (unknown ids, ranges)."""
    import tensorflow as tf

    spec = servable.signatures.get(signature_name)
    if spec is None:
        raise ServingError("FAILED_PRECONDITION",
                           f'Serving signature key "{signature_name}" not found.')
    sent, expected = set(inputs), set(spec.inputs)
    if len(sent) != len(expected):
        raise ServingError("INVALID_ARGUMENT", (
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - sent))}}}."))
    unknown = sorted(sent - expected)
    if unknown:
        raise ServingError("INVALID_ARGUMENT", (
            f"input tensor alias not found in signature: {unknown[0]}. Inputs expected to be "
            f"in the set {{{', '.join(sorted(expected))}}}."))
    for alias in output_filter:
        if alias not in spec.outputs:
            raise ServingError("INVALID_ARGUMENT", (
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{', '.join(sorted(spec.outputs))}}}."))

    checked = {}
    for alias, value in inputs.items():
        dtype, shape = spec.inputs[alias]
        value = np.asarray(value)
        if np.dtype(tf.dtypes.as_dtype(dtype).as_numpy_dtype) != value.dtype and not (
                dtype == "string" and value.dtype.kind in "SUO"):
            raise ServingError("INVALID_ARGUMENT", (
                f"Expects arg {alias} to be {dtype} but {_dtype_name(value)} is provided"))
        if shape is not None and (len(shape) != value.ndim or any(
                want not in (-1, got) for want, got in zip(shape, value.shape))):
            raise ServingError("INVALID_ARGUMENT", (
                f"input {alias} has shape {list(value.shape)}; the signature expects "
                f"{[None if d == -1 else d for d in shape]}"))
        if max_request_rows and value.ndim and value.shape[0] > max_request_rows:
            raise ServingError("INVALID_ARGUMENT", (
                f"input {alias} has a batch of {value.shape[0]}; this server accepts at most "
                f"{max_request_rows} rows per request (--max_request_rows)"))
        checked[alias] = value
    return checked


def call_signature(servable: Servable, signature_name: str, inputs: dict) -> dict:
    """Runs a signature on checked inputs: alias -> np.ndarray of every output; an op error
    (the graph's own input checks) is a ServingError."""
    import tensorflow as tf

    from tfgrad.cli import op_error_message

    function = servable.export.saved_model.signatures[signature_name]
    spec = servable.signatures[signature_name]
    try:
        outputs = function(**{alias: tf.constant(value, dtype=spec.inputs[alias][0])
                              for alias, value in inputs.items()})
    except tf.errors.InvalidArgumentError as error:
        raise ServingError("INVALID_ARGUMENT", op_error_message(error.message)) from None
    except tf.errors.OpError as error:
        raise ServingError("INTERNAL", op_error_message(error.message)) from None
    return {alias: tensor.numpy() for alias, tensor in outputs.items()}


def _dtype_name(value: np.ndarray) -> str:
    import tensorflow as tf

    try:
        return tf.dtypes.as_dtype(value.dtype).name
    except TypeError:
        return str(value.dtype)
