"""Serving figures: QPS and p50/p99 latency of one-walk Predict requests over gRPC on loopback
at 1, 4 and 16 concurrent clients, beside the same call in-process; then a bounded load run.

  python benchmarks/serving_benchmark.py --export_dir=exports/cgir_synthetic

The server is `python -m tfgrad.serve` in its own process on 127.0.0.1 (a free port); clients are
threads here. Traffic stays on this machine, every loop is bounded in count, and the server is
stopped (SIGTERM) at the end.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", "exports/cgir_synthetic", "A tfgrad export base folder.")
flags.DEFINE_string("signature", "walk", "Signature to call.")
flags.DEFINE_list("clients", ["1", "4", "16"], "Concurrent clients per level.")
flags.DEFINE_integer("requests", 1000, "Requests per concurrency level.")
flags.DEFINE_integer("load_requests", 20000, "Requests in the final load run.")
flags.DEFINE_integer("load_clients", 8, "Concurrent clients in the load run.")


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


def main(argv):
    del argv
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tfgrad.export.versioned import load_export
    from tfgrad.serving.client import walk_request

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
    local, _, local_wall = run_clients(lambda r: signature(**r)["item_ids"].numpy(), 1,
                                       FLAGS.requests, local_requests)

    server = subprocess.Popen(
        [sys.executable, "-m", "tfgrad.serve", "--model_name=bench",
         f"--model_base_path={FLAGS.export_dir}", "--host=127.0.0.1", "--port=0",
         "--file_system_poll_wait_seconds=0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = re.search(r"gRPC 127\.0\.0\.1:(\d+)", server.stdout.readline())[1]
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        remote_requests = [walk_request("bench", [i], [a], [d], 10, FLAGS.signature)
                           for i, a, d in picks]
        stub.Predict(remote_requests[0], timeout=60)

        def predict(request):
            return stub.Predict(request, timeout=60)

        print(f"one walk of 10 steps per request, signature {FLAGS.signature!r}, "
              f"{export.metadata['num_items']} items, export {export.path}")
        print(f"{'mode':<22} {'clients':>7} {'QPS':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        p50, p99 = percentiles(local)
        print(f"{'in-process':<22} {1:>7} {FLAGS.requests / local_wall:>8.0f} {p50:>8.2f} "
              f"{p99:>8.2f} {0:>7}")
        local_p99 = p99
        for clients in (int(c) for c in FLAGS.clients):
            latencies, errors, wall = run_clients(predict, clients, FLAGS.requests,
                                                  remote_requests)
            p50, p99 = percentiles(latencies)
            print(f"{'gRPC over loopback':<22} {clients:>7} {len(latencies) / wall:>8.0f} "
                  f"{p50:>8.2f} {p99:>8.2f} {len(errors):>7}")
            if clients == 1:
                print(f"{'':<22} p99 gRPC / in-process at 1 client: {p99 / local_p99:.2f}x")
        latencies, errors, wall = run_clients(predict, FLAGS.load_clients, FLAGS.load_requests,
                                              remote_requests)
        p50, p99 = percentiles(latencies)
        print(f"load run: {FLAGS.load_requests} requests from {FLAGS.load_clients} clients in "
              f"{wall:.1f} s: {len(latencies) / wall:.0f} QPS, p50 {p50:.2f} ms, p99 {p99:.2f} "
              f"ms, {len(errors)} errors" + (f" (first: {errors[0]})" if errors else ""))
        channel.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    print(f"benchmark process peak resident memory: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    app.run(main)
