"""Serves a tfgrad export over TensorFlow Serving's gRPC API (and REST):

  python -m tfgrad.serve --model_name=cgir --model_base_path=exports/cgir_synthetic \
      --port=8500 --rest_api_port=8501

Serves the newest numeric version under --model_base_path and swaps in newer ones as they
appear. SIGTERM or Ctrl-C stops it gracefully: requests in flight are answered first.
--enable_batching merges concurrent requests into one signature call, as TF Serving does
(tfgrad.serving.batching), with the parameters of --batching_parameters_file (e.g.
configs/batching.txtpb) or TF Serving's defaults.
"""

from __future__ import annotations

import signal
import threading

from absl import flags

from tfgrad import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("model_name", None, "The name clients put in model_spec.name.")
    flags.DEFINE_string("model_base_path", None, "Folder of numeric version folders.")
    flags.DEFINE_string("host", "0.0.0.0", "Address to bind (127.0.0.1: this machine only).")
    flags.DEFINE_integer("port", 8500, "gRPC port (0: any free port).")
    flags.DEFINE_integer("rest_api_port", 0, "REST port; 0 disables REST (as in TF Serving).")
    flags.DEFINE_float("file_system_poll_wait_seconds", 2.0,
                       "How often to look for a new version; 0 loads once.")
    flags.DEFINE_integer("max_request_rows", 256, "Most rows (walks, users) one request may "
                         "carry; a merged batch's limit is max_batch_size in the batching "
                         "parameters.")
    flags.DEFINE_bool("enable_batching", False, "Merge concurrent requests for a signature "
                      "into one call (TF Serving's flag).")
    flags.DEFINE_string("batching_parameters_file", None, "A text-format BatchingParameters "
                        "file, as tensorflow_model_server reads (max_batch_size, "
                        "batch_timeout_micros, max_enqueued_batches, num_batch_threads); "
                        "without it, TF Serving's defaults. Needs --enable_batching.")
    flags.DEFINE_integer("grpc_max_threads", 16, "Requests served at once.")
    flags.DEFINE_float("grace_seconds", 5.0, "On shutdown, time given to requests in flight.")
    flags.mark_flags_as_required(["model_name", "model_base_path"])


@cli.guarded
def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    from tfgrad.serving.batching import Batcher
    from tfgrad.serving.batching_parameters import BatchingParameters, read_batching_parameters
    from tfgrad.serving.servables import ModelManager
    from tfgrad.serving.server import ModelServer

    if FLAGS.batching_parameters_file and not FLAGS.enable_batching:
        raise ValueError("--batching_parameters_file is only read with --enable_batching")
    batching = None
    if FLAGS.enable_batching:
        batching = (read_batching_parameters(FLAGS.batching_parameters_file)
                    if FLAGS.batching_parameters_file else BatchingParameters())
    manager = ModelManager(FLAGS.model_name, FLAGS.model_base_path,
                           FLAGS.file_system_poll_wait_seconds)
    servable = manager.start()
    batcher = Batcher(batching) if batching else None
    try:
        server = ModelServer(manager, FLAGS.host, FLAGS.port, FLAGS.rest_api_port,
                             FLAGS.max_request_rows, FLAGS.grpc_max_threads, batcher).start()
    except (OSError, RuntimeError) as error:
        manager.stop()
        if batcher is not None:
            batcher.stop()
        raise ValueError(f"cannot start the server: {error}") from None
    stopping = threading.Event()

    def stop(signum, frame):
        del signum, frame
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    rest = f", REST on {FLAGS.host}:{server.rest_port}" if server.rest_port else ""
    print(f"serving model {FLAGS.model_name!r} version {servable.version} "
          f"(signatures: {', '.join(sorted(servable.signatures))}) on gRPC "
          f"{FLAGS.host}:{server.port}{rest}", flush=True)
    if batching:
        print(f"batching: {batching}", flush=True)
    stopping.wait()
    print("stopping: answering requests in flight", flush=True)
    server.stop(FLAGS.grace_seconds)
    print("stopped", flush=True)


if __name__ == "__main__":
    define_flags()
    cli.run(main)
