""""This item, but attribute a = v" from an ADDE export, in process or from a server
(tfgrad.serve), printed and drawn:

  python -m tfgrad.manipulate --export_dir=exports/adde_fashion_products --item=15970 \
      --set=baseColour=Red [--set=season=Summer] --k=5
  python -m tfgrad.manipulate --export_dir=… --image=photo.jpg --set=baseColour=Red
  python -m tfgrad.manipulate --server=localhost:8500 --model_name=adde_fashion_products …

A photo's current values are the model's predictions; a catalogue item's are its labels. With
--export_dir an unknown attribute or value is named with the valid ones before anything runs.
"""

from __future__ import annotations

from absl import flags

from tfgrad import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("export_dir", None, "An ADDE export (base folder or version folder).")
    flags.DEFINE_string("server", None, "Ask this gRPC server (host:port) instead.")
    flags.DEFINE_string("model_name", None, "The served model's name (with --server).")
    flags.DEFINE_string("item", None, "The reference: a catalogue item id (left out of its own "
                        "answer).")
    flags.DEFINE_string("image", None, "The reference: a photo (JPEG or PNG file).")
    flags.DEFINE_multi_string("set", [], "A change, attribute=value (repeat for several "
                              "attributes).")
    flags.DEFINE_integer("k", 5, "How many items.")
    flags.DEFINE_string("out", "manipulated.png", "Where to draw the reference and the items.")


def parse_changes(changes: list[str], known: dict | None) -> tuple[list[str], list[str]]:
    """(attributes, values) of --set attribute=value flags, checked against `known`
    ({attribute: values}, from the export's metadata) when given."""
    if not changes:
        raise ValueError("give at least one --set=attribute=value")
    attributes, values = [], []
    for change in changes:
        attribute, equals, value = change.partition("=")
        if not equals or not attribute or not value:
            raise ValueError(f"--set {change!r} is not attribute=value")
        if attribute in attributes:
            raise ValueError(f"--set changes {attribute} twice")
        if known is not None:
            if attribute not in known:
                raise ValueError(f"unknown attribute {attribute!r}; known: "
                                 f"{', '.join(known)}")
            if value not in known[attribute]:
                raise ValueError(f"unknown value {value!r} of {attribute}; known: "
                                 f"{', '.join(known[attribute])}")
        attributes.append(attribute)
        values.append(value)
    return attributes, values


def _reference_photo() -> bytes:
    if bool(FLAGS.image) == bool(FLAGS.item):
        raise ValueError("give one of --image (a photo) or --item (a catalogue item id)")
    if not FLAGS.image:
        return b""
    try:
        with open(FLAGS.image, "rb") as f:
            return f.read()
    except OSError as error:
        raise FileNotFoundError(f"--image {FLAGS.image!r}: {error.strerror}") from None


@cli.guarded
def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    import numpy as np
    import tensorflow as tf

    from tfgrad.plots import image_rows_png

    if bool(FLAGS.export_dir) == bool(FLAGS.server):
        raise ValueError("give one of --export_dir or --server")
    image = _reference_photo()
    export = None
    if FLAGS.export_dir:
        from tfgrad.export.versioned import load_export

        export = load_export(FLAGS.export_dir)
        if "attributes" not in export.metadata:
            raise ValueError(f"{export.path!r} is not an ADDE export (train one: python -m "
                             f"tfgrad.train --flagfile=configs/adde_fashion_products.cfg)")
    attributes, values = parse_changes(FLAGS.set, export.metadata["attributes"]
                                       if export is not None else None)
    inputs = {"item_id": (FLAGS.item or "", tf.string), "image": (image, tf.string),
              "attributes": (attributes, tf.string), "values": (values, tf.string),
              "k": (FLAGS.k, tf.int32)}
    if export is not None:
        answer = cli.ask_export(FLAGS.export_dir, "manipulate", inputs, "")
    else:
        answer = cli.ask_server(FLAGS.server, FLAGS.model_name, "manipulate", inputs)
    ids = [item.decode() for item in answer["item_ids"]]
    request = ", ".join(f"{a}={v}" for a, v in zip(attributes, values))
    print(f"{FLAGS.item or FLAGS.image}, but {request}:")
    table = None if export is None else export.items.set_index("item_id")
    print(f"{'rank':>4}  {'item':<12} {'score':>6}  " + ("  ".join(attributes)
                                                      if table is not None else ""))
    for rank, (item, score) in enumerate(zip(ids, answer["scores"]), start=1):
        shown = ("  ".join(str(table.loc[item, a]) for a in attributes)
                 if table is not None and item in table.index else "")
        print(f"{rank:>4}  {item:<12} {score:6.3f}  {shown}")
    reference = [image] if image else (
        [] if export is None else [_stored_photo(export, FLAGS.item)])
    photos = [tf.image.resize_with_pad(tf.io.decode_image(photo, channels=3,
                                                          expand_animations=False), 64, 64)
              for photo in reference + list(answer["images"])]
    captions = ["reference"] * len(reference) + [f"{s:.3f}" for s in answer["scores"]]
    with open(FLAGS.out, "wb") as f:
        f.write(image_rows_png([np.stack([p.numpy().astype(np.uint8) for p in photos])],
                               [f"{(FLAGS.item or 'photo')[:14]}\n{request[:28]}"], [captions]))
    print(f"drawn: {FLAGS.out}")


def _stored_photo(export, item: str) -> bytes:
    """The catalogue photo of `item`, as the export stores it."""
    photos = export.saved_model.item_photos.numpy()
    rows = export.items.index[export.items.item_id == item]
    return photos[rows[0]] if len(rows) else b""


if __name__ == "__main__":
    define_flags()
    cli.run(main)
