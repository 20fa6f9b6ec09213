"""Server-side batching: concurrent requests for one signature merged into one call, with TF
Serving's semantics (`SharedBatchScheduler`, the `--enable_batching` parameters).

A request joins a queue of requests that can share a call: same model version and signature,
the same values of every input that is not batched along axis 0 (a walk's `steps` and
`decoding`, a recommendation's `k`) and the same shape past axis 0 of every batched input.
Each queue holds batches of at most `max_batch_size` rows; a batch runs when it is full or its
first request has waited `batch_timeout_micros`, on one of `num_batch_threads` threads, oldest
first across queues. A queue that would need more than `max_enqueued_batches` waiting batches
refuses the request with UNAVAILABLE, and a request of more rows than a batch holds is refused
with INVALID_ARGUMENT, as TF Serving answers both.

A batch runs as one call on its requests' inputs concatenated along axis 0, and its outputs
are split back by the requests' row counts. TF Serving needs every output batched; tfgrad's
walks also answer `strengths` [steps], which all requests of a batch share. So on a version's
first batch of a signature, the batcher calls the first request alone and doubled (its rows
twice): outputs whose first axis doubles are split by rows, outputs that stay equal are given
whole to every request, and a signature with any other output is answered one request at a
time from then on. Requests the signature cannot batch (no axis-0 input, inputs of different
row counts, no rows) are answered alone.

Errors stay per request: the server checks names, dtypes and shapes before a request joins a
batch, and when the graph's own checks fail a merged call (an unknown id in one request), each
request of the batch is run alone, so only the bad one gets the error.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Callable, Optional

import numpy as np
from absl import logging

from tfgrad.serving.batching_parameters import BatchingParameters
from tfgrad.serving.servables import Servable, ServingError, call_signature

# (servable, signature name, checked inputs) -> every output; tests count calls through it.
SignatureCall = Callable[[Servable, str, dict], dict]


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """How a signature's outputs come back from a merged call.

    Attributes:
      batchable: False if some output is neither per row nor shared (answered alone).
      per_row: outputs with one row per input row, split back by the requests' row counts.
      shared: outputs that depend on the shared inputs only, given whole to every request.
    """

    batchable: bool
    per_row: frozenset = frozenset()
    shared: frozenset = frozenset()


def learn_layout(alone: dict, doubled: dict, rows: int) -> OutputLayout:
    """The layout from one request's outputs `alone` and with its `rows` rows sent twice."""
    per_row, shared = set(), set()
    for alias, one in alone.items():
        two = doubled[alias]
        if (one.ndim and two.ndim == one.ndim and one.shape[0] == rows
                and two.shape[0] == 2 * rows and two.shape[1:] == one.shape[1:]):
            per_row.add(alias)
        elif one.shape == two.shape and np.array_equal(one, two):
            shared.add(alias)
        else:
            return OutputLayout(batchable=False)
    return OutputLayout(True, frozenset(per_row), frozenset(shared))


def batched_aliases(spec) -> frozenset:
    """The inputs of a signature `spec` (a SignatureSpec) batched along axis 0."""
    return frozenset(alias for alias, (_, shape) in spec.inputs.items()
                     if shape and shape[0] == -1)


def merge_rows(requests: list, batched: frozenset) -> dict:
    """One call's inputs from several requests' (alias -> np.ndarray): batched inputs
    concatenated along axis 0, the others (equal in every request) from the first."""
    return {alias: np.concatenate([inputs[alias] for inputs in requests])
            if alias in batched else value for alias, value in requests[0].items()}


def batch_group(spec, inputs: dict) -> Optional[tuple]:
    """(key, rows) for checked `inputs` of a signature `spec`: requests of equal keys can share
    a call; None if the request cannot be batched."""
    batched = sorted(batched_aliases(spec))
    if not batched or any(shape is None for _, shape in spec.inputs.values()):
        return None
    rows = {inputs[alias].shape[0] for alias in batched}
    if len(rows) != 1 or 0 in rows:
        return None  # the signature answers the mismatch (or the empty request) itself
    shared = sorted(set(inputs) - set(batched))
    key = (tuple((alias, inputs[alias].shape[1:]) for alias in batched)
           + tuple((alias, inputs[alias].shape, inputs[alias].dtype.kind,
                    tuple(inputs[alias].reshape(-1).tolist())) for alias in shared))
    return key, rows.pop()


def _selected(outputs: dict, output_filter) -> dict:
    return {alias: outputs[alias] for alias in (output_filter or sorted(outputs))}


@dataclasses.dataclass(eq=False)
class _Task:
    """One request waiting in a batch."""

    inputs: dict
    rows: int
    output_filter: tuple
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    outputs: Optional[dict] = None
    error: Optional[ServingError] = None

    def answer(self, outputs: dict) -> None:
        self.outputs = _selected(outputs, self.output_filter)
        self.done.set()

    def fail(self, error: ServingError) -> None:
        self.error = error
        self.done.set()


@dataclasses.dataclass(eq=False)
class _Batch:
    created: float  # time.monotonic() of its first request
    tasks: list = dataclasses.field(default_factory=list)
    rows: int = 0
    closed: bool = False  # full, or a newer batch was opened behind it


@dataclasses.dataclass(eq=False)
class _Queue:
    servable: Servable
    signature_name: str
    batches: collections.deque = dataclasses.field(default_factory=collections.deque)


class Batcher:
    """Merges concurrent requests into signature calls (see the module docstring).

    Args:
      parameters: TF Serving's batching parameters.
      call: runs a signature (tests pass a counting wrapper of `call_signature`).
    """

    def __init__(self, parameters: BatchingParameters, call: SignatureCall = call_signature):
        self.parameters = parameters
        self._call = call
        self._timeout = parameters.batch_timeout_micros / 1e6
        self._queues: dict[tuple, _Queue] = {}
        self._changed = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._serve_batches, daemon=True,
                                          name=f"{parameters.thread_pool_name}_{number}")
                         for number in range(parameters.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    def run(self, servable: Servable, signature_name: str, inputs: dict,
            output_filter=()) -> dict:
        """Answers one request (inputs checked by `check_inputs`), in a batch if it can share
        one: alias -> np.ndarray of the outputs `output_filter` names (all if empty)."""
        group = batch_group(servable.signatures[signature_name], inputs)
        layout = servable.batch_layouts.get(signature_name)
        if group is None or (layout is not None and not layout.batchable):
            return _selected(self._call(servable, signature_name, inputs), output_filter)
        key, rows = group
        if rows > self.parameters.max_batch_size:
            raise ServingError("INVALID_ARGUMENT", (
                f"Task size {rows} is larger than maximum input batch size "
                f"{self.parameters.max_batch_size} (max_batch_size in the batching "
                f"parameters)"))
        task = _Task(inputs, rows, tuple(output_filter))
        self._enqueue((id(servable), signature_name) + key, servable, signature_name, task)
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def queued_batches(self) -> int:
        """Batches waiting for a batch thread, over all queues."""
        with self._changed:
            return sum(len(queue.batches) for queue in self._queues.values())

    def stop(self, timeout_seconds: float = 5.0) -> None:
        """Runs the batches already queued, then ends the batch threads."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout_seconds)

    def _enqueue(self, key: tuple, servable: Servable, signature_name: str,
                 task: _Task) -> None:
        with self._changed:
            if self._stopping:
                raise ServingError("UNAVAILABLE", "the server is stopping")
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue(servable, signature_name)
            batch = queue.batches[-1] if queue.batches else None
            if batch is None or batch.closed or (
                    batch.rows + task.rows > self.parameters.max_batch_size):
                if len(queue.batches) >= self.parameters.max_enqueued_batches:
                    raise ServingError("UNAVAILABLE", (
                        "The batch scheduling queue to which this task was submitted is full "
                        f"(max_enqueued_batches {self.parameters.max_enqueued_batches})"))
                if batch is not None:
                    batch.closed = True
                batch = _Batch(created=time.monotonic())
                queue.batches.append(batch)
            batch.tasks.append(task)
            batch.rows += task.rows
            batch.closed = batch.rows == self.parameters.max_batch_size
            self._changed.notify()

    def _take_batch(self) -> tuple[Optional[_Queue], Optional[_Batch], Optional[float]]:
        """The oldest batch that may run (full, or waited its timeout) and its queue, taken
        off the queue; else the seconds until one may (None: until a request comes)."""
        now = time.monotonic()
        ready_key, wait = None, None
        for key, queue in self._queues.items():
            head = queue.batches[0]
            due = head.created + self._timeout
            if head.closed or now >= due or self._stopping:
                if ready_key is None or head.created < self._queues[ready_key].batches[
                        0].created:
                    ready_key = key
            else:
                wait = due - now if wait is None else min(wait, due - now)
        if ready_key is None:
            return None, None, wait
        queue = self._queues[ready_key]
        batch = queue.batches.popleft()
        if not queue.batches:
            del self._queues[ready_key]
        return queue, batch, None

    def _serve_batches(self) -> None:
        while True:
            with self._changed:
                queue, batch, wait = self._take_batch()
                while batch is None:
                    if self._stopping and not self._queues:
                        return
                    self._changed.wait(wait)
                    queue, batch, wait = self._take_batch()
            try:
                self._answer(queue.servable, queue.signature_name, batch.tasks)
            except Exception as error:  # noqa: BLE001 - a batch thread never dies
                logging.exception("batching: unexpected error")
                for task in batch.tasks:
                    if not task.done.is_set():
                        task.fail(ServingError("INTERNAL", f"internal error: "
                                               f"{type(error).__name__}"))

    def _answer(self, servable: Servable, signature_name: str, tasks: list) -> None:
        if len(tasks) > 1 and signature_name not in servable.batch_layouts:
            self._learn_layout(servable, signature_name, tasks[0])
        layout = servable.batch_layouts.get(signature_name)
        if len(tasks) == 1 or layout is None or not layout.batchable:
            return self._answer_each(servable, signature_name, tasks)
        inputs = merge_rows([task.inputs for task in tasks],
                            batched_aliases(servable.signatures[signature_name]))
        try:
            outputs = self._call(servable, signature_name, inputs)
        except ServingError:
            # One request's values failed the graph's checks: each answers for itself.
            return self._answer_each(servable, signature_name, tasks)
        rows = sum(task.rows for task in tasks)
        if any(outputs[alias].shape[0] != rows for alias in layout.per_row):
            logging.error("batching: %s answered a batch of %d rows with other row counts; "
                          "answering its requests one by one", signature_name, rows)
            return self._answer_each(servable, signature_name, tasks)
        bounds = np.cumsum([task.rows for task in tasks])[:-1]
        pieces = {alias: np.split(outputs[alias], bounds) for alias in layout.per_row}
        for number, task in enumerate(tasks):
            task.answer({alias: pieces[alias][number] if alias in pieces else outputs[alias]
                         for alias in outputs})

    def _learn_layout(self, servable: Servable, signature_name: str, task: _Task) -> None:
        """Calls the request alone and doubled; a request the graph refuses teaches nothing
        (the next batch tries again)."""
        doubled = merge_rows([task.inputs, task.inputs],
                             batched_aliases(servable.signatures[signature_name]))
        try:
            alone = self._call(servable, signature_name, task.inputs)
            twice = self._call(servable, signature_name, doubled)
        except ServingError:
            return
        layout = learn_layout(alone, twice, task.rows)
        servable.batch_layouts[signature_name] = layout
        logging.info("batching: signature %s of version %d: %s", signature_name,
                     servable.version, layout)

    def _answer_each(self, servable: Servable, signature_name: str, tasks: list) -> None:
        for task in tasks:
            try:
                task.answer(self._call(servable, signature_name, task.inputs))
            except ServingError as error:
                task.fail(error)
