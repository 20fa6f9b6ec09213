"""Asks a TensorFlow Serving API server (tfgrad.serve, or stock TF Serving for walk_exact) for
a walk:

  python -m tfgrad.client --server=localhost:8500 --model_name=cgir --item=SKU000042 \
      --attribute=floral --direction=more
"""

from __future__ import annotations

import sys

from absl import flags

from tfgrad import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("server", "localhost:8500", "host:port of the gRPC server.")
    flags.DEFINE_string("model_name", None, "model_spec.name.")
    flags.DEFINE_integer("model_version", None, "A specific version (default: the newest).")
    flags.DEFINE_string("signature", "walk", "walk (ScaNN) or walk_exact.")
    flags.DEFINE_string("item", None, "The reference item's id.")
    flags.DEFINE_list("attribute", None, "Attribute(s), comma-separated.")
    flags.DEFINE_list("direction", ["more"], "'more' or 'less', one per attribute.")
    flags.DEFINE_integer("steps", 10, "Walk length N.")
    flags.DEFINE_string("decoding", "", "greedy (each step its top item, the paper's) or "
                        "gradual (the whole walk at once); empty: the export's default.")
    flags.DEFINE_float("timeout", 30.0, "Seconds to wait for the answer.")
    flags.mark_flags_as_required(["model_name", "item", "attribute"])


@cli.guarded
def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tfgrad.serving.client import walk_request, walk_response

    if len(FLAGS.direction) != len(FLAGS.attribute):
        raise ValueError(f"{len(FLAGS.attribute)} attribute(s) but {len(FLAGS.direction)} "
                         f"direction(s); give one direction per attribute")
    request = walk_request(FLAGS.model_name, [FLAGS.item], [",".join(FLAGS.attribute)],
                           [",".join(FLAGS.direction)], FLAGS.steps, FLAGS.signature,
                           FLAGS.model_version, FLAGS.decoding)
    with grpc.insecure_channel(FLAGS.server) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=FLAGS.timeout)
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            sys.exit(cli.USAGE_ERROR)
    walk = walk_response(response)
    moves = ", ".join(f"{d} {a}" for a, d in zip(FLAGS.attribute, FLAGS.direction))
    print(f"{moves} from {FLAGS.item}: model {response.model_spec.name} version "
          f"{response.model_spec.version.value}, signature {response.model_spec.signature_name}")
    print(f"{'step':>4} {'γ':>5}  {'item':<14} {'score':>7}  name")
    for step, (item, name, score, strength) in enumerate(zip(
            walk["item_ids"][0], walk["item_names"][0], walk["scores"][0], walk["strengths"]),
            start=1):
        print(f"{step:>4} {strength:>5.2f}  {item:<14} {score:>7.3f}  {name}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
