"""TensorFlow Serving's gRPC API (PredictionService, ModelService) and REST API for tfgrad exports.

Same protos, request and response messages, signature names, `model_spec.version` handling and
status codes as `tensorflow_model_server`, but in a Python process that has registered ScaNN's
ops, so the `walk` signature loads. Every error is answered as a status with a message; nothing
a client sends can stop the server.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

import grpc
import numpy as np
from absl import logging
from google.protobuf import any_pb2, json_format
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc)

from tfgrad.serving import tensor_protos
from tfgrad.serving.batching import Batcher
from tfgrad.serving.servables import (ModelManager, Servable, ServingError, call_signature,
                                      check_inputs, resolve_servable)

_HTTP_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "NOT_FOUND": 404,
                "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503}


def _version_of(model_spec) -> Optional[int]:
    return model_spec.version.value if model_spec.HasField("version") else None


def _fill_model_spec(spec, name: str, version: int, signature_name: str = "") -> None:
    spec.name = name
    spec.version.value = version
    if signature_name:
        spec.signature_name = signature_name


def _abort(context, error: ServingError):
    context.abort(getattr(grpc.StatusCode, error.code), error.message)


class SignatureRunner:
    """Answers one request's inputs: checks them (names, dtypes, shapes, at most
    `max_request_rows` rows; 0: no limit) and runs the signature, merged with other requests'
    by `batcher` if one is given (`--enable_batching`), else alone.

    `max_request_rows` limits what one request may carry; the batcher's `max_batch_size`
    limits what one merged call carries (TF Serving's name, from the batching parameters).
    """

    def __init__(self, max_request_rows: int = 0, batcher: Optional[Batcher] = None):
        self.max_request_rows = max_request_rows
        self.batcher = batcher

    def __call__(self, servable: Servable, signature_name: str, inputs: dict,
                 output_filter=()) -> dict:
        """alias -> np.ndarray of the outputs `output_filter` names (all if empty)."""
        signature_name = signature_name or "serving_default"
        inputs = check_inputs(servable, signature_name, inputs, output_filter,
                              self.max_request_rows)
        if self.batcher is not None:
            return self.batcher.run(servable, signature_name, inputs, output_filter)
        outputs = call_signature(servable, signature_name, inputs)
        return {alias: outputs[alias] for alias in (list(output_filter) or sorted(outputs))}


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata; Classify, Regress and MultiInference are UNIMPLEMENTED
    (tfgrad signatures are predict signatures), as a server without such signatures answers."""

    def __init__(self, manager: ModelManager, run: SignatureRunner):
        self.manager = manager
        self.run = run

    def Predict(self, request, context):
        try:
            servable = resolve_servable(self.manager, request.model_spec.name,
                                        _version_of(request.model_spec),
                                        request.model_spec.version_label)
            try:
                inputs = {alias: tensor_protos.to_array(proto)
                          for alias, proto in request.inputs.items()}
            except Exception:  # noqa: BLE001 - any undecodable TensorProto
                raise ServingError("INVALID_ARGUMENT", "tensor parsing error: " + ", ".join(
                    sorted(request.inputs))) from None
            signature_name = request.model_spec.signature_name or "serving_default"
            outputs = self.run(servable, signature_name, inputs, list(request.output_filter))
        except ServingError as error:
            _abort(context, error)
        response = predict_pb2.PredictResponse()
        _fill_model_spec(response.model_spec, self.manager.name, servable.version, signature_name)
        for alias, value in outputs.items():
            tensor_protos.fill_proto(response.outputs[alias], value)
        return response

    def GetModelMetadata(self, request, context):
        try:
            servable = resolve_servable(self.manager, request.model_spec.name,
                                        _version_of(request.model_spec),
                                        request.model_spec.version_label)
            for field in request.metadata_field:
                if field != "signature_def":
                    raise ServingError("INVALID_ARGUMENT",
                                       f"Metadata field {field} is not supported")
            if not request.metadata_field:
                raise ServingError("INVALID_ARGUMENT", "GetModelMetadataRequest must specify at "
                                   "least one metadata_field")
        except ServingError as error:
            _abort(context, error)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _fill_model_spec(response.model_spec, self.manager.name, servable.version)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, definition in servable.meta_graph.signature_def.items():
            if not name.startswith("__"):
                signature_map.signature_def[name].CopyFrom(definition)
        packed = any_pb2.Any()
        packed.Pack(signature_map)
        response.metadata["signature_def"].CopyFrom(packed)
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus: the loaded version is AVAILABLE."""

    def __init__(self, manager: ModelManager):
        self.manager = manager

    def GetModelStatus(self, request, context):
        try:
            servable = resolve_servable(self.manager, request.model_spec.name,
                                        _version_of(request.model_spec),
                                        request.model_spec.version_label)
        except ServingError as error:
            _abort(context, error)
        response = get_model_status_pb2.GetModelStatusResponse()
        status = response.model_version_status.add()
        status.version = servable.version
        status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        return response


def model_status_json(manager: ModelManager, model_name: str,
                      version: Optional[int] = None) -> dict:
    servable = resolve_servable(manager, model_name, version)
    return {"model_version_status": [{"version": str(servable.version), "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}]}


def predict_json(manager: ModelManager, model_name: str, version: Optional[int], body: dict,
                 run: SignatureRunner) -> dict:
    """TF Serving's REST predict, columnar form: {"signature_name", "inputs": {alias: value}}
    -> {"outputs": {alias: value}}. The row form ("instances") needs every input batched; the
    walk signatures have a scalar `steps`, so it is refused with a message saying so."""
    if not isinstance(body, dict):
        raise ServingError("INVALID_ARGUMENT", "the request body must be a JSON object")
    servable = resolve_servable(manager, model_name, version)
    if "instances" in body:
        raise ServingError("INVALID_ARGUMENT", "use the columnar format {\"inputs\": {...}}: "
                           "the walk signatures have a scalar input (steps), which the row "
                           "format (\"instances\") cannot carry")
    if not isinstance(body.get("inputs"), dict):
        raise ServingError("INVALID_ARGUMENT", "missing \"inputs\" object in the request body")
    signature_name = body.get("signature_name", "serving_default")
    spec = servable.signatures.get(signature_name)
    inputs = {}
    for alias, value in body["inputs"].items():
        dtype = spec.inputs[alias][0] if spec and alias in spec.inputs else None
        try:
            inputs[alias] = np.asarray(value, dtype=object if dtype == "string" else None)
        except (ValueError, TypeError):
            raise ServingError("INVALID_ARGUMENT", f"input {alias} is not a rectangular "
                               f"array") from None
        if dtype and dtype != "string" and inputs[alias].dtype.kind in "iu":
            inputs[alias] = inputs[alias].astype(dtype)
        if dtype == "string":
            if not all(isinstance(v, str) for v in inputs[alias].reshape(-1)):
                raise ServingError("INVALID_ARGUMENT", f"input {alias} must hold strings")
            inputs[alias] = inputs[alias].astype(bytes)
    outputs = run(servable, signature_name, inputs, body.get("output_filter", ()))
    return {"outputs": {alias: np.char.decode(value.astype(bytes)).tolist()
                        if value.dtype.kind in "SO" else value.tolist()
                        for alias, value in outputs.items()}}


_REST_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?"
                        r"(?P<verb>:predict|/metadata)?$")


def make_rest_handler(manager: ModelManager, run: SignatureRunner):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's signature
            logging.debug("rest: " + format, *args)

        def _answer(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self, method: str) -> None:
            try:
                match = _REST_PATH.match(self.path)
                if not match:
                    raise ServingError("NOT_FOUND", f"Malformed request: {method} {self.path}")
                name, verb = match["name"], match["verb"]
                version = int(match["version"]) if match["version"] else None
                if method == "GET" and verb is None:
                    self._answer(200, model_status_json(manager, name, version))
                elif method == "GET" and verb == "/metadata":
                    servable = resolve_servable(manager, name, version)
                    signature_map = get_model_metadata_pb2.SignatureDefMap()
                    for key, definition in servable.meta_graph.signature_def.items():
                        if not key.startswith("__"):
                            signature_map.signature_def[key].CopyFrom(definition)
                    self._answer(200, {
                        "model_spec": {"name": name, "signature_name": "",
                                       "version": str(servable.version)},
                        "metadata": {"signature_def": json_format.MessageToDict(signature_map)}})
                elif method == "POST" and verb == ":predict":
                    length = int(self.headers.get("Content-Length") or 0)
                    try:
                        body = json.loads(self.rfile.read(length) or b"null")
                    except (json.JSONDecodeError, UnicodeDecodeError) as error:
                        raise ServingError("INVALID_ARGUMENT",
                                           f"JSON Parse error: {error}") from None
                    self._answer(200, predict_json(manager, name, version, body, run))
                else:
                    raise ServingError("NOT_FOUND", f"Malformed request: {method} {self.path}")
            except ServingError as error:
                self._answer(_HTTP_STATUS.get(error.code, 400), {"error": error.message})
            except Exception as error:  # noqa: BLE001 - never a traceback to the client
                logging.exception("rest: unexpected error")
                self._answer(500, {"error": f"internal error: {type(error).__name__}"})

        def do_GET(self):  # noqa: N802 - http.server's naming
            self._route("GET")

        def do_POST(self):  # noqa: N802
            self._route("POST")

    return Handler


class ModelServer:
    """gRPC (and optionally REST) serving one model; `stop()` drains requests in flight.

    Args:
      max_request_rows: most rows one request may carry (0: no limit).
      batcher: merges concurrent requests (TF Serving's `--enable_batching`); None answers
        each request alone. The server stops it.
    """

    def __init__(self, manager: ModelManager, host: str = "0.0.0.0", port: int = 8500,
                 rest_api_port: int = 0, max_request_rows: int = 256, max_workers: int = 16,
                 batcher: Optional[Batcher] = None):
        self.manager = manager
        self.batcher = batcher
        run = SignatureRunner(max_request_rows, batcher)
        self.grpc_server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            # Refuse a port another server holds instead of silently sharing it.
            options=[("grpc.so_reuseport", 0),
                     ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(manager, run), self.grpc_server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelService(manager), self.grpc_server)
        self.port = self.grpc_server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot bind gRPC to {host}:{port} (in use?)")
        self.rest_server = None
        self.rest_port = 0
        if rest_api_port:
            self.rest_server = ThreadingHTTPServer(
                (host, rest_api_port), make_rest_handler(manager, run))
            self.rest_port = self.rest_server.server_address[1]
        self._rest_thread = None

    def start(self) -> "ModelServer":
        self.grpc_server.start()
        if self.rest_server is not None:
            self._rest_thread = threading.Thread(target=self.rest_server.serve_forever,
                                                 name="rest", daemon=True)
            self._rest_thread.start()
        return self

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Stops taking requests, lets those in flight finish (up to the grace), stops polling."""
        done = self.grpc_server.stop(grace_seconds)
        if self.rest_server is not None:
            self.rest_server.shutdown()
            self.rest_server.server_close()
        if self.batcher is not None:
            self.batcher.stop(grace_seconds)
        self.manager.stop()
        done.wait(grace_seconds + 1)

    def wait(self) -> None:
        self.grpc_server.wait_for_termination()
