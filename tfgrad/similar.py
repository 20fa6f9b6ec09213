"""Look-alike items from an AGE export (or the autoencoder's, or the supervised encoder's), in
process or from a server (tfgrad.serve), printed and drawn:

  python -m tfgrad.similar --export_dir=exports/age_fashion_mnist --image=photo.jpg --k=5
  python -m tfgrad.similar --export_dir=exports/age_fashion_mnist --item=train/00042
  python -m tfgrad.similar --server=localhost:8500 --model_name=age_fashion_mnist --image=…
  python -m tfgrad.similar --export_dir=exports/age_hm --embed_photos=<photo folder> \
      --features_out=age_codes.npy      # + age_codes.ids.txt: DVBPR's visual features

A photo of another size than the model's is resized with padding to it (the export does it).
"""

from __future__ import annotations

import os

from absl import flags

from tfgrad import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("export_dir", None, "An AGE export (base folder or version folder).")
    flags.DEFINE_string("server", None, "Ask this gRPC server (host:port) instead.")
    flags.DEFINE_string("model_name", None, "The served model's name (with --server).")
    flags.DEFINE_string("image", None, "The query photo (JPEG or PNG file).")
    flags.DEFINE_string("item", None, "The query: a catalogue item id (it is left out of its "
                        "own answer).")
    flags.DEFINE_integer("k", 5, "How many look-alikes.")
    flags.DEFINE_string("out", "similar.png", "Where to draw the query and its look-alikes.")
    flags.DEFINE_string("embed_photos", None, "Instead of a query: embed every photo in this "
                        "folder (H&M, class-folder or id-folder layout) into --features_out.")
    flags.DEFINE_string("features_out", "codes.npy", "With --embed_photos: the [photos, d] "
                        "codes (.npy) and, beside it, <name>.ids.txt with each row's item id "
                        "(what DVBPR's --visual_features_path and --visual_feature_ids_path "
                        "read).")


def _embed_folder(ask) -> None:
    import numpy as np
    import tensorflow as tf

    from tfgrad.data.images import find_images

    folder = find_images(FLAGS.embed_photos)
    ids = sorted(folder.paths)
    codes = []
    for start in range(0, len(ids), 256):
        photos = []
        for item in ids[start:start + 256]:
            with open(folder.paths[item], "rb") as f:
                photos.append(f.read())
        codes.append(ask("embed", {"images": (photos, tf.string)})["codes"])
    codes = np.concatenate(codes).astype(np.float32)
    ids_path = os.path.splitext(FLAGS.features_out)[0] + ".ids.txt"
    np.save(FLAGS.features_out, codes)
    with open(ids_path, "w") as f:
        f.write("\n".join(ids) + "\n")
    print(f"embedded {len(ids)} photos of {FLAGS.embed_photos}: {FLAGS.features_out} "
          f"{codes.shape}, ids in {ids_path}")


def _query_inputs(tf) -> dict:
    if bool(FLAGS.image) == bool(FLAGS.item):
        raise ValueError("give one of --image (a photo) or --item (a catalogue item id)")
    image = b""
    if FLAGS.image:
        try:
            with open(FLAGS.image, "rb") as f:
                image = f.read()
        except OSError as error:
            raise FileNotFoundError(f"--image {FLAGS.image!r}: {error.strerror}") from None
    return {"item_id": (FLAGS.item or "", tf.string), "image": (image, tf.string),
            "k": (FLAGS.k, tf.int32)}


@cli.guarded
def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    import numpy as np
    import tensorflow as tf

    from tfgrad.plots import image_rows_png

    if bool(FLAGS.export_dir) == bool(FLAGS.server):
        raise ValueError("give one of --export_dir or --server")
    hint = "export a run of the age system (python -m tfgrad.train --model=age …)"

    def ask(signature: str, given: dict) -> dict:
        return (cli.ask_server(FLAGS.server, FLAGS.model_name, signature, given)
                if FLAGS.server else cli.ask_export(FLAGS.export_dir, signature, given, hint))

    if FLAGS.embed_photos:
        _embed_folder(ask)
        return
    inputs = _query_inputs(tf)
    answer = ask("similar", inputs)
    # The query as the model saw it: its reconstruction's first image when there is a
    # generator, else the given photo.
    query = None
    try:
        query = ask("reconstruct", {key: inputs[key] for key in ("item_id", "image")})[
            "images"][0]
    except ValueError:
        if FLAGS.image:
            query = inputs["image"][0]
    ids = [item.decode() for item in answer["item_ids"]]
    print(f"{'rank':>4}  {'item':<24} distance")
    for rank, (item, distance) in enumerate(zip(ids, answer["distances"]), start=1):
        print(f"{rank:>4}  {item:<24} {distance:.4f}")
    photos = [tf.image.resize_with_pad(tf.io.decode_image(photo, channels=3,
                                                          expand_animations=False), 64, 64)
              for photo in ([query] if query is not None else []) + list(answer["images"])]
    captions = (["query"] if query is not None else []) + [f"{d:.3f}" for d in
                                                           answer["distances"]]
    with open(FLAGS.out, "wb") as f:
        f.write(image_rows_png([np.stack([p.numpy().astype(np.uint8) for p in photos])],
                               [f"{(FLAGS.item or 'photo')[:14]}\nlook-alikes"], [captions]))
    print(f"drawn: {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
