"""Serving figures, batching off (before) and on (after), in one run on one export: QPS and
p50/p99 latency of one-walk Predict requests over gRPC on loopback at 1, 4 and 16 concurrent
clients beside the same call in-process; a bounded load run; a storm of malformed requests
mixed with good ones; the server's peak memory; and where the 2 cores go: CPU milliseconds
per request of the server process and of the client threads.

  python benchmarks/serving_benchmark.py --export_dir=exports/cgir_synthetic \
      [--batching_parameters_file=configs/batching.txtpb]

Each server is `python -m tfgrad.serve` in its own process on 127.0.0.1 (a free port), the
second with --enable_batching; clients are threads here, so client and server share the
machine's cores. Every loop is bounded in count, and each server is stopped (SIGTERM).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from workloads import peak_rss_mib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", "exports/cgir_synthetic", "A tfgrad export base folder.")
flags.DEFINE_string("signature", "walk", "Signature to call.")
flags.DEFINE_string("batching_parameters_file", "configs/batching.txtpb",
                    "The batching parameters of the server with batching on.")
flags.DEFINE_list("clients", ["1", "4", "16"], "Concurrent clients per level.")
flags.DEFINE_integer("requests", 1000, "Requests per concurrency level.")
flags.DEFINE_integer("load_requests", 20000, "Requests in the load run.")
flags.DEFINE_integer("load_clients", 8, "Concurrent clients in the load run.")
flags.DEFINE_integer("storm_requests", 2000, "Requests in the storm, half of them malformed.")


def percentiles(seconds):
    return 1000 * np.percentile(seconds, 50), 1000 * np.percentile(seconds, 99)


def run_clients(call, num_clients, num_requests, requests):
    """Issues num_requests calls from num_clients threads; returns (latencies, errors, wall)."""
    latencies, errors, lock = [], [], threading.Lock()
    next_request = iter(range(num_requests))

    def worker():
        while True:
            with lock:
                index = next(next_request, None)
            if index is None:
                return
            started = time.perf_counter()
            try:
                call(requests[index % len(requests)])
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
            except Exception as error:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(repr(error))

    threads = [threading.Thread(target=worker) for _ in range(num_clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return np.array(latencies), errors, time.perf_counter() - started


def storm_requests(picks, signature):
    """(request, expected status name or None for success): good walks interleaved with
    malformed ones, each kind of mistake a client makes; the unknown ids and steps out of range
    fail in the graph, so with batching on they fail merged calls that must be re-run."""
    import tensorflow as tf

    from tfgrad.serving.client import walk_request

    def good(i, a, d):
        return walk_request("bench", [i], [a], [d], 10, signature)

    def wrong_dtype(i, a, d):
        request = good(i, a, d)
        request.inputs["item"].CopyFrom(tf.make_tensor_proto([7], dtype=tf.int64))
        return request

    def missing_input(i, a, d):
        request = good(i, a, d)
        del request.inputs["direction"]
        return request

    def unknown_model(i, a, d):
        request = good(i, a, d)
        request.model_spec.name = "nope"
        return request

    malformed = [
        (lambda i, a, d: walk_request("bench", ["NO-SUCH-ITEM"], [a], [d], 10, signature),
         "INVALID_ARGUMENT"),
        (lambda i, a, d: walk_request("bench", [i], ["no-such-attribute"], [d], 10, signature),
         "INVALID_ARGUMENT"),
        (lambda i, a, d: walk_request("bench", [i], [a], ["sideways"], 10, signature),
         "INVALID_ARGUMENT"),
        (lambda i, a, d: walk_request("bench", [i], [a], [d], 0, signature), "INVALID_ARGUMENT"),
        (wrong_dtype, "INVALID_ARGUMENT"), (missing_input, "INVALID_ARGUMENT"),
        (unknown_model, "NOT_FOUND"),
    ]
    requests = []
    for number, (i, a, d) in enumerate(picks):
        requests.append((good(i, a, d), None))
        make, code = malformed[number % len(malformed)]
        requests.append((make(i, a, d), code))
    return requests


def serve(export_dir, *extra_flags):
    """A `tfgrad.serve` process on a free port: (process, gRPC port)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tfgrad.serve", "--model_name=bench",
         f"--model_base_path={export_dir}", "--host=127.0.0.1", "--port=0",
         "--file_system_poll_wait_seconds=0", *extra_flags],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    port = re.search(r"gRPC 127\.0\.0\.1:(\d+)", line)
    if port is None:
        server.kill()
        raise RuntimeError(f"the server did not start: {line!r}")
    return server, port[1]


def peak_rss_of(pid) -> float:
    """A live process's peak resident memory (VmHWM), MiB."""
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+) kB", status.read())[1]) / 1024


def cpu_seconds(pid=None) -> float:
    """User + system CPU seconds of this process, or of the process `pid` (from /proc)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_server(label, extra_flags, remote_requests, storm):
    """Prints the server's rows; returns {clients: (qps, p99)}, the load run and storm counts."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    server, port = serve(FLAGS.export_dir, *extra_flags)
    figures = {}
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def predict(request):
            return stub.Predict(request, timeout=60)

        for request in remote_requests[:8]:  # warm-up: first calls, batching's first batches
            predict(request)
        run_clients(predict, 8, 64, remote_requests)
        for clients in (int(c) for c in FLAGS.clients):
            server_cpu, client_cpu = cpu_seconds(server.pid), cpu_seconds()
            latencies, errors, wall = run_clients(predict, clients, FLAGS.requests,
                                                  remote_requests)
            server_cpu = (cpu_seconds(server.pid) - server_cpu) / FLAGS.requests * 1000
            client_cpu = (cpu_seconds() - client_cpu) / FLAGS.requests * 1000
            p50, p99 = percentiles(latencies)
            figures[clients] = (len(latencies) / wall, p99)
            print(f"{label:<26} {clients:>7} {len(latencies) / wall:>8.0f} {p50:>8.2f} "
                  f"{p99:>8.2f} {len(errors):>7} {server_cpu:>9.2f} {client_cpu:>9.2f}",
                  flush=True)
        latencies, errors, wall = run_clients(predict, FLAGS.load_clients, FLAGS.load_requests,
                                              remote_requests)
        p50, p99 = percentiles(latencies)
        load = (f"{FLAGS.load_requests} requests from {FLAGS.load_clients} clients in "
                f"{wall:.1f} s: {len(latencies) / wall:.0f} QPS, p50 {p50:.2f} ms, p99 "
                f"{p99:.2f} ms, {len(errors)} errors" + (
                    f" (first: {errors[0]})" if errors else ""))

        wrong = []

        def storm_call(pair):
            request, code = pair
            try:
                predict(request)
                answered = None
            except grpc.RpcError as error:
                answered = error.code().name
            if answered != code:
                wrong.append(f"expected {code}, got {answered}")

        run_clients(storm_call, FLAGS.load_clients, FLAGS.storm_requests, storm)
        alive = server.poll() is None and predict(remote_requests[0]) is not None
        storm_line = (f"{FLAGS.storm_requests} requests ({FLAGS.storm_requests // 2} "
                      f"malformed) from {FLAGS.load_clients} clients: {len(wrong)} wrong "
                      f"answers" + (f" (first: {wrong[0]})" if wrong else "")
                      + f", server {'alive' if alive else 'DOWN'}")
        server_memory = peak_rss_of(server.pid)
        channel.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    return figures, load, storm_line, server_memory


def main(argv):
    del argv
    import tensorflow as tf

    from tfgrad.export.versioned import load_export
    from tfgrad.serving.batching_parameters import read_batching_parameters
    from tfgrad.serving.client import walk_request

    batching = read_batching_parameters(FLAGS.batching_parameters_file)
    export = load_export(FLAGS.export_dir)
    rng = np.random.default_rng(0)
    items = export.items["item_id"].to_numpy()
    attributes = export.metadata["attributes"]
    picks = [(str(rng.choice(items)), str(rng.choice(attributes)),
              str(rng.choice(["more", "less"]))) for _ in range(256)]

    signature = export.saved_model.signatures[FLAGS.signature]
    local_requests = [dict(item=tf.constant([i]), attribute=tf.constant([a]),
                           direction=tf.constant([d]), steps=tf.constant(10),
                           decoding=tf.constant(""))
                      for i, a, d in picks]
    signature(**local_requests[0])
    local_cpu = cpu_seconds()
    local, _, local_wall = run_clients(lambda r: signature(**r)["item_ids"].numpy(), 1,
                                       FLAGS.requests, local_requests)
    local_cpu = cpu_seconds() - local_cpu
    remote_requests = [walk_request("bench", [i], [a], [d], 10, FLAGS.signature)
                       for i, a, d in picks]
    storm = storm_requests(picks, FLAGS.signature)

    print(f"one walk of 10 steps per request, signature {FLAGS.signature!r}, "
          f"{export.metadata['num_items']} items, export {export.path}; batching on: {batching}")
    print(f"{'mode':<26} {'clients':>7} {'QPS':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
          f"{'server CPU':>9} {'client CPU':>9}  (CPU: ms per request)")
    p50, local_p99 = percentiles(local)
    print(f"{'in-process':<26} {1:>7} {FLAGS.requests / local_wall:>8.0f} {p50:>8.2f} "
          f"{local_p99:>8.2f} {0:>7} {1000 * local_cpu / FLAGS.requests:>9.2f}", flush=True)
    modes = [("gRPC, batching off", ()),
             ("gRPC, batching on", ("--enable_batching",
                                    f"--batching_parameters_file="
                                    f"{FLAGS.batching_parameters_file}"))]
    results = {label: measure_server(label, extra, remote_requests, storm)
               for label, extra in modes}
    (before, *_), (after, *_) = results["gRPC, batching off"], results["gRPC, batching on"]
    print()
    for label, (figures, load, storm_line, server_memory) in results.items():
        print(f"{label}: load run: {load}")
        print(f"{label}: storm: {storm_line}")
        print(f"{label}: server peak resident memory {server_memory:.0f} MiB")
        if 1 in figures:
            print(f"{label}: p99 gRPC / in-process at 1 client: "
                  f"{figures[1][1] / local_p99:.2f}x")
    top = max(before)
    print(f"QPS at {top} clients, batching on / off: {after[top][0] / before[top][0]:.2f}x "
          f"({after[top][0]:.0f} vs {before[top][0]:.0f})")
    print(f"benchmark process peak resident memory: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    app.run(main)
