"""Asks an exported recommender for a user's top-k new items, or scores given items.

  python -m tfgrad.recommend --export_dir=exports/dvbpr_hm --user=<customer id> --k=10
  python -m tfgrad.recommend --export_dir=exports/dvbpr_hm --user=<id> --items=0706016001,...
"""

from __future__ import annotations

from absl import flags

from tfgrad import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("export_dir", None, "An export base folder (newest version is used) "
                        "or one version folder.")
    flags.DEFINE_string("user", None, "The user's id.")
    flags.DEFINE_integer("k", 10, "How many items to recommend.")
    flags.DEFINE_list("items", None, "Score these item ids for the user instead.")
    flags.DEFINE_bool("exact", False, "Use the brute-force signature instead of ScaNN.")
    flags.mark_flags_as_required(["export_dir", "user"])


@cli.guarded
def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    import tensorflow as tf

    from tfgrad.export.versioned import load_export
    from tfgrad.export.recommend import (RECOMMEND_EXACT_SIGNATURE, RECOMMEND_SIGNATURE,
                                           SCORE_SIGNATURE)

    export = load_export(FLAGS.export_dir)
    signatures = export.saved_model.signatures
    if SCORE_SIGNATURE not in signatures:
        other = "tfgrad.design" if "generate" in signatures else "tfgrad.walk"
        raise ValueError(f"{export.path!r} is not a recommender export: its signatures are "
                         f"{', '.join(sorted(signatures))} (python -m {other} reads it)")
    names = dict(zip(export.items["item_id"], export.items["name"]))
    user = tf.constant([FLAGS.user])
    if FLAGS.items:
        # Check here too, so the user sees examples of known ids, not only the graph's error.
        unknown = [item for item in FLAGS.items if item not in names]
        if unknown:
            raise ValueError(f"unknown item id(s) {', '.join(map(repr, unknown))} in --items "
                             f"(e.g. {', '.join(export.items['item_id'][:3])})")
        scores = signatures[SCORE_SIGNATURE](user_id=user, item_id=tf.constant([FLAGS.items]))
        for item, score in zip(FLAGS.items, scores["scores"].numpy()[0]):
            print(f"{score:9.4f}  {item}  {names.get(item, '')}")
        return
    signature = RECOMMEND_EXACT_SIGNATURE if FLAGS.exact else RECOMMEND_SIGNATURE
    if signature not in signatures:
        signature = RECOMMEND_EXACT_SIGNATURE
    result = signatures[signature](user_id=user, k=tf.constant(FLAGS.k))
    print(f"top {FLAGS.k} new items for user {FLAGS.user} ({export.metadata.get('model')}, "
          f"version {export.version}):")
    for rank, (item, name, score) in enumerate(zip(result["item_ids"].numpy()[0],
                                                    result["item_names"].numpy()[0],
                                                    result["scores"].numpy()[0]), start=1):
        print(f"{rank:3d}. {item.decode()}  {name.decode()}  ({score:.4f})")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
