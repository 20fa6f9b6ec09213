"""Walks an exported model from the command line.

  python -m tfgrad.walk --export_dir=exports/cgir_synthetic --item=SKU000042 \
      --attribute=floral --direction=more

Several attributes at once: --attribute=floral,dark --direction=more,less, either summed into
one walk (--combine=sum) or as atomic walks one after the other, each starting where the last
ended (--combine=sequence).
"""

from __future__ import annotations

import os

import numpy as np
from absl import flags

from tfgrad import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("export_dir", None, "An export base folder (newest version is used) "
                        "or one version folder.")
    flags.DEFINE_string("item", None, "The reference item's id.")
    flags.DEFINE_list("attribute", None, "Attribute(s) to change, comma-separated.")
    flags.DEFINE_list("direction", ["more"], "'more' or 'less', one per attribute.")
    flags.DEFINE_integer("steps", 10, "Walk length N (per attribute with --combine=sequence).")
    flags.DEFINE_enum("combine", "sum", ["sum", "sequence"],
                      "Several attributes: one walk along the sum of their vectors, or one "
                      "atomic walk per attribute, each starting at the previous walk's end.")
    flags.DEFINE_bool("exact", False, "Use the brute-force signature instead of ScaNN.")
    flags.DEFINE_string("decoding", "", "greedy (each step its top item, the paper's) or "
                        "gradual (the whole walk at once, steadier); empty: the export's "
                        "default.")
    flags.DEFINE_string("plot", None, "Also draw the first walk to this PNG: a strip of its "
                        "items' photos where they have photos (H&M), else its relevance "
                        "curves (catalogues with graded relevance).")
    flags.mark_flags_as_required(["export_dir", "item", "attribute"])


def format_walk(export, item: str, attributes: list[str], directions: list[str],
                result: dict, decoding: str) -> str:
    """The walk as a table: step, γ, id, score, relevance of each walked attribute, name."""
    items = export.items.set_index("item_id")
    shown = [a for a in attributes if a in export.relevance_columns()]
    header = f"{'step':>4} {'γ':>5}  {'item':<14} {'score':>7}  " + "".join(
        f"{a[:10]:>10} " for a in shown) + " name"

    def row(step, strength, item_id, score):
        # NaN: the source does not grade this item (e.g. a movie outside the tag genome).
        relevance = "".join(f"{items.loc[item_id, 'relevance:' + a]:>10.3f} "
                            .replace("nan", "  –") for a in shown)
        return f"{step:>4} {strength:>5}  {item_id:<14} {score:>7}  {relevance} " \
               f"{items.loc[item_id, 'name']}"

    moves = ", ".join(f"{d} {a}" for a, d in zip(attributes, directions))
    lines = [f"{moves} from {item} ({items.loc[item, 'name']}), export version "
             f"{export.version}, {decoding} decoding", header, row("ref", "", item, "")]
    for step, (item_id, score, strength) in enumerate(zip(
            result["item_ids"][0], result["scores"][0], result["strengths"]), start=1):
        lines.append(row(step, f"{strength:.2f}", item_id.decode(), f"{score:.3f}"))
    return "\n".join(lines)


@cli.guarded
def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    import tensorflow as tf

    from tfgrad.export.versioned import load_export
    from tfgrad.export.walk import WALK_EXACT_SIGNATURE, WALK_SIGNATURE

    attributes = [a.strip() for a in FLAGS.attribute]
    directions = [d.strip().lower() for d in FLAGS.direction]
    if len(directions) != len(attributes):
        raise ValueError(f"{len(attributes)} attribute(s) but {len(directions)} direction(s); "
                         f"give one direction per attribute")
    export = load_export(FLAGS.export_dir)
    if WALK_EXACT_SIGNATURE not in export.saved_model.signatures:
        signatures = ", ".join(sorted(export.saved_model.signatures))
        raise ValueError(f"{export.path!r} cannot walk: it is a {export.metadata.get('model')} "
                         f"export with signatures {signatures} (python -m tfgrad.recommend "
                         f"asks a recommender)")
    # Check here too, so the user sees the list of known values, not only the graph's error.
    if FLAGS.item not in set(export.items["item_id"]):
        raise ValueError(f"unknown item id {FLAGS.item!r} (e.g. "
                         f"{', '.join(export.items['item_id'][:3])})")
    unknown = [a for a in attributes if a not in export.metadata["attributes"]]
    if unknown:
        raise ValueError(f"unknown attribute(s) {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(export.metadata['attributes'])}")
    signature = export.saved_model.signatures[WALK_EXACT_SIGNATURE if FLAGS.exact
                                              else WALK_SIGNATURE]
    if "decoding" not in signature.structured_input_signature[1]:
        raise ValueError(f"{export.path!r} was exported before walks had a decoding input; "
                         f"export the run again with this tfgrad")

    def walk(item, walked_attributes, walked_directions):
        return {name: value.numpy() for name, value in signature(
            item=tf.constant([item]), attribute=tf.constant([",".join(walked_attributes)]),
            direction=tf.constant([",".join(walked_directions)]),
            steps=tf.constant(FLAGS.steps), decoding=tf.constant(FLAGS.decoding)).items()}

    if FLAGS.combine == "sum":
        legs = [(attributes, directions)]
    else:
        legs = [([a], [d]) for a, d in zip(attributes, directions)]
    start = FLAGS.item
    for leg, (leg_attributes, leg_directions) in enumerate(legs):
        result = walk(start, leg_attributes, leg_directions)
        print(("\n" if leg else "") + format_walk(
            export, start, leg_attributes, leg_directions, result,
            FLAGS.decoding or export.metadata.get("decoding", "greedy")))
        if FLAGS.plot and leg == 0:
            write_plot(export, start, leg_attributes, leg_directions, result, FLAGS.plot)
        start = result["item_ids"][0][-1].decode()
    if FLAGS.plot:
        print(f"picture of the first walk: {FLAGS.plot}")


def write_plot(export, item, attributes, directions, result, path: str) -> None:
    """The walk as its items' photos where they have some (what a shopper judges by), else as
    the relevance curves of graded catalogues."""
    from tfgrad.export.versioned import RELEVANCE_PREFIX
    from tfgrad.plots import walk_photo_strip_png, walk_relevance_png

    items = export.items.set_index("item_id")
    walk_ids = [item] + [i.decode() for i in result["item_ids"][0]]
    strengths = np.concatenate([[0.0], result["strengths"]])
    # A photo not on this machine (an export made elsewhere) is shown as a missing one.
    photos = [photo if isinstance(photo, str) and os.path.exists(photo) else ""
              for photo in items.reindex(columns=["image"]).loc[walk_ids, "image"]]
    if any(photos):
        level_column = RELEVANCE_PREFIX + attributes[0]
        levels = (items.loc[walk_ids, level_column].to_numpy(np.float64)
                  if level_column in items else np.full(len(walk_ids), np.nan))
        names = items["name"].fillna("").loc[walk_ids].tolist()
        # Short lines: the title stands sideways, as high as one row of photos.
        title = "\n".join([*(f"{d} {a[:14]}" for a, d in zip(attributes, directions)),
                           f"from {names[0][:12]}"])
        png = walk_photo_strip_png([photos], strengths, levels[None], [title], [names])
    else:
        names = export.relevance_columns()
        if not names:
            raise ValueError("this export's items have neither photos nor graded relevance to "
                             "plot")
        relevance = items.loc[walk_ids, [RELEVANCE_PREFIX + n for n in names]].to_numpy()[None]
        png = walk_relevance_png(
            relevance, [names.index(attributes[0])], [1 if directions[0] == "more" else -1],
            names, strengths, titles=[items.loc[item, "name"]])
    with open(path, "wb") as f:
        f.write(png)


if __name__ == "__main__":
    define_flags()
    cli.run(main)
