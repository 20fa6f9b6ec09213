"""Where the server's own Python time per request goes: `PredictionService.Predict` called
in-process (no gRPC transport, no batching) on one-walk requests, beside the bare signature
call, then cProfile's top functions.

  python benchmarks/serving_profile.py --export_dir=exports/cgir_synthetic
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", "exports/cgir_synthetic", "A tfgrad export base folder.")
flags.DEFINE_string("signature", "walk", "Signature to call.")
flags.DEFINE_integer("requests", 500, "Requests timed, and profiled.")
flags.DEFINE_integer("top", 25, "Functions listed.")


def per_call_ms(call, arguments):
    started = time.perf_counter()
    for number in range(FLAGS.requests):
        call(arguments[number % len(arguments)])
    return (time.perf_counter() - started) / FLAGS.requests * 1000


def main(argv):
    del argv
    from tfgrad.serving.client import walk_request
    from tfgrad.serving.servables import ModelManager, call_signature, check_inputs
    from tfgrad.serving.server import PredictionService, SignatureRunner

    manager = ModelManager("bench", FLAGS.export_dir, poll_seconds=0)
    servable = manager.start()
    service = PredictionService(manager, SignatureRunner())
    rng = np.random.default_rng(0)
    items = servable.export.items["item_id"].to_numpy()
    attributes = servable.export.metadata["attributes"]
    requests = [walk_request("bench", [str(rng.choice(items))], [str(rng.choice(attributes))],
                             ["more"], 10, FLAGS.signature) for _ in range(64)]
    import tensorflow as tf

    inputs = [check_inputs(servable, FLAGS.signature,
                           {a: tf.make_ndarray(p) for a, p in r.inputs.items()})
              for r in requests]
    signature = servable.export.saved_model.signatures[FLAGS.signature]
    tensors = [{a: tf.constant(v) for a, v in i.items()} for i in inputs]
    for request in requests[:8]:
        service.Predict(request, None)

    bare = per_call_ms(lambda t: signature(**t)["item_ids"].numpy(), tensors)
    called = per_call_ms(lambda i: call_signature(servable, FLAGS.signature, i), inputs)
    predict = per_call_ms(lambda r: service.Predict(r, None), requests)
    print(f"ms per request, {FLAGS.requests} one-walk requests, signature {FLAGS.signature}:")
    print(f"  bare signature call on ready tensors  {bare:.3f}")
    print(f"  call_signature (arrays -> tensors -> arrays)  {called:.3f}")
    print(f"  PredictionService.Predict (protos in and out)  {predict:.3f}")
    print(f"  the server's own Python per request  {predict - bare:.3f}")
    profile = cProfile.Profile()
    profile.enable()
    per_call_ms(lambda r: service.Predict(r, None), requests)
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(FLAGS.top)
    manager.stop()


if __name__ == "__main__":
    app.run(main)
