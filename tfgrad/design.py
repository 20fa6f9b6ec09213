"""Designs new items for a user from an LSGAN export (made with --preference_run), in process
or from a server (tfgrad.serve), and draws them:

  python -m tfgrad.design --export_dir=exports/lsgan_hm --user=<customer id> \
      --category="Garment Upper body" --out=design.png
  python -m tfgrad.design --export_dir=exports/lsgan_hm --user=<id> --tailor_item=<article id>
  python -m tfgrad.design --server=localhost:8500 --model_name=lsgan --user=<id> --category=…
"""

from __future__ import annotations

from absl import flags

from tfgrad import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("export_dir", None, "An LSGAN export (base folder or version folder).")
    flags.DEFINE_string("server", None, "Ask this gRPC server (host:port) instead.")
    flags.DEFINE_string("model_name", None, "The served model's name (with --server).")
    flags.DEFINE_string("user", None, "The user's id.")
    flags.DEFINE_string("category", None, "The category to design in (design), or of "
                        "--tailor_image.")
    flags.DEFINE_string("tailor_item", None, "Tailor this catalogue item for the user.")
    flags.DEFINE_string("tailor_image", None, "Tailor this photo (JPEG/PNG file; give "
                        "--category) for the user.")
    flags.DEFINE_integer("m", 64, "Random starts of the ascent.")
    flags.DEFINE_float("eta", 1.0, "η, the weight of the realism penalty.")
    flags.DEFINE_integer("steps", 10, "Gradient steps of the ascent.")
    flags.DEFINE_integer("seed", 0, "Seed of the starts and the softmax draws.")
    flags.DEFINE_string("out", "design.png", "Where to draw the result (PNG).")
    flags.mark_flags_as_required(["user"])


def _inputs(tf):
    if FLAGS.tailor_item or FLAGS.tailor_image:
        image = b""
        if FLAGS.tailor_image:
            try:
                with open(FLAGS.tailor_image, "rb") as f:
                    image = f.read()
            except OSError as error:
                raise FileNotFoundError(f"--tailor_image {FLAGS.tailor_image!r}: "
                                        f"{error.strerror}") from None
            if not FLAGS.category:
                raise ValueError("--tailor_image needs --category (the photo's category)")
        return "tailor", {"user_id": (FLAGS.user, tf.string),
                          "item_id": (FLAGS.tailor_item or "", tf.string),
                          "image": (image, tf.string), "category": (FLAGS.category or "",
                                                                    tf.string),
                          "eta": (FLAGS.eta, tf.float32), "steps": (FLAGS.steps, tf.int32),
                          "seed": (FLAGS.seed, tf.int64)}
    if not FLAGS.category:
        raise ValueError("give --category to design in (or --tailor_item / --tailor_image)")
    return "design", {"user_id": (FLAGS.user, tf.string), "category": (FLAGS.category, tf.string),
                      "m": (FLAGS.m, tf.int32), "eta": (FLAGS.eta, tf.float32),
                      "steps": (FLAGS.steps, tf.int32), "seed": (FLAGS.seed, tf.int64)}


@cli.guarded
def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    import numpy as np
    import tensorflow as tf

    from tfgrad.plots import image_rows_png

    if bool(FLAGS.export_dir) == bool(FLAGS.server):
        raise ValueError("give one of --export_dir or --server")
    signature, inputs = _inputs(tf)
    answer = (cli.ask_server(FLAGS.server, FLAGS.model_name, signature, inputs)
              if FLAGS.server else
              cli.ask_export(FLAGS.export_dir, signature, inputs,
                             "export an LSGAN trained with --preference_run=<a DVBPR work dir>"))
    images = np.stack([tf.io.decode_png(png).numpy() for png in answer["images"]])
    labels = (["photo", "inversion", "tailored"] if signature == "tailor"
              else ["best"] + [f"draw {k}" for k in range(1, len(images))])
    for label, score in zip(labels, answer["preference"]):
        print(f"{label:>10}  preference {score:.4f}")
    with open(FLAGS.out, "wb") as f:
        f.write(image_rows_png([images], [f"user {FLAGS.user[:10]}\n{signature}"],
                               [[f"{label} {score:.2f}" for label, score
                                 in zip(labels, answer["preference"])]]))
    print(f"drawn: {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
