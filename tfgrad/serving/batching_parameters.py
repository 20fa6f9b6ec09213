"""TF Serving's batching parameters file (`--batching_parameters_file`), read the way
`tensorflow_model_server` reads it: a text-format `tensorflow.serving.BatchingParameters`.

  max_batch_size { value: 128 }
  batch_timeout_micros { value: 0 }
  max_enqueued_batches { value: 10 }
  num_batch_threads { value: 2 }

The installed `tensorflow_serving` package ships the API protos only, not
`session_bundle_config.proto`, so the message is declared here field for field (names, numbers
and types as TF Serving's) and parsed with protobuf's own `text_format`: comments, optional
colons and every syntax error behave as they do for TF Serving. A field left out takes TF
Serving's default (`SharedBatchScheduler::QueueOptions` / `Options`).
"""

from __future__ import annotations

import dataclasses
import functools
import os

# TF Serving's padding fields: tfgrad's signatures take any batch size, so it never pads; a
# file asking for padding is refused rather than silently served unpadded.
_PADDING_FIELDS = ("allowed_batch_sizes", "pad_variable_length_inputs")


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """How concurrent requests are merged (TF Serving's names and defaults).

    Attributes:
      max_batch_size: most rows in one merged signature call; a request with more rows is
        refused (INVALID_ARGUMENT), as TF Serving refuses a task larger than the batch.
      batch_timeout_micros: longest a batch waits for more requests once its first request is
        queued; 0 runs a batch as soon as a batch thread is free (requests that arrive while
        the threads are busy still share the next batch).
      max_enqueued_batches: batches a queue holds beyond those running; a request that needs
        one more is refused with UNAVAILABLE.
      num_batch_threads: batches run at once.
      thread_pool_name: the batch threads' name.
    """

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    thread_pool_name: str = "batch_threads"

    def __post_init__(self):
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"batching parameter {name} must be at least 1, got "
                                 f"{getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"batching parameter batch_timeout_micros must be at least 0, "
                             f"got {self.batch_timeout_micros}")


@functools.lru_cache(maxsize=None)
def _message_class():
    """tensorflow.serving.BatchingParameters as TF Serving declares it."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    proto_file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/batching_parameters.proto", package="tensorflow.serving",
        syntax="proto3", dependency=["google/protobuf/wrappers.proto"])
    message = proto_file.message_type.add(name="BatchingParameters")
    field = descriptor_pb2.FieldDescriptorProto
    for number, name, wrapper in [(1, "max_batch_size", "Int64Value"),
                                  (2, "batch_timeout_micros", "Int64Value"),
                                  (3, "max_enqueued_batches", "Int64Value"),
                                  (4, "num_batch_threads", "Int64Value"),
                                  (5, "thread_pool_name", "StringValue")]:
        message.field.add(name=name, number=number, label=field.LABEL_OPTIONAL,
                          type=field.TYPE_MESSAGE, type_name=f".google.protobuf.{wrapper}")
    message.field.add(name="allowed_batch_sizes", number=6, label=field.LABEL_REPEATED,
                      type=field.TYPE_INT64)
    message.field.add(name="pad_variable_length_inputs", number=7,
                      label=field.LABEL_OPTIONAL, type=field.TYPE_BOOL)
    pool.Add(proto_file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


def parse_batching_parameters(text: str, source: str = "batching parameters") -> (
        BatchingParameters):
    """Text-format BatchingParameters -> BatchingParameters; ValueError naming the problem
    (the line and column of a syntax error, an unknown field, a value out of range)."""
    from google.protobuf import text_format

    message = _message_class()()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        raise ValueError(f"{source}: not a BatchingParameters text proto: {error}") from None
    for name in _PADDING_FIELDS:
        if getattr(message, name):
            raise ValueError(f"{source}: {name} is not supported: tfgrad.serve does not pad "
                             f"batches (its signatures take any batch size); remove it")
    given = {name: getattr(message, name).value for name in (
        "max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads",
        "thread_pool_name") if message.HasField(name)}
    try:
        return BatchingParameters(**given)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def read_batching_parameters(path: str) -> BatchingParameters:
    """The batching parameters file at `path` (see `parse_batching_parameters`)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read the batching parameters file {path!r}: "
                         f"{error}") from None
    return parse_batching_parameters(text, source=path)
