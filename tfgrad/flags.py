"""The training flags, defined in a function (so importing tfgrad never defines flags) and
turned into an `ExperimentConfig` by the entry points."""

from __future__ import annotations

from absl import flags

from tfgrad.config import (DATASETS, MODEL_KINDS, PRECISIONS, EvalConfig, ExperimentConfig,
                           ModelConfig, RealDataConfig, TrainConfig)
from tfgrad.data.synthetic import SyntheticCatalogueConfig
from tfgrad.distribute import STRATEGIES
from tfgrad.models.interaction_vae import SIMILARITIES


def define_experiment_flags() -> None:
    """Defines every flag of `ExperimentConfig`, with the dataclasses' defaults."""
    experiment, synthetic, real = ExperimentConfig(), SyntheticCatalogueConfig(), RealDataConfig()
    model, train, evaluation = ModelConfig(), TrainConfig(), EvalConfig()
    # The run.
    flags.DEFINE_string("name", experiment.name, "Run name; exports go to <export_dir>/<name>/.")
    flags.DEFINE_string("work_dir", experiment.work_dir,
                        "Checkpoints, TensorBoard logs, final weights, metrics and pictures.")
    flags.DEFINE_string("export_dir", experiment.export_dir, "Base folder of versioned exports.")
    flags.DEFINE_bool("export", True, "Export a SavedModel after training.")
    # Data.
    flags.DEFINE_enum("dataset", experiment.dataset, list(DATASETS),
                      "Catalogue source; 'synthetic' is generated, nothing to download; "
                      "'movielens' and 'hm' read a public download (--movielens_dir, --hm_dir); "
                      "'interactions' (recommenders) reads --interactions_path and --images_dir.")
    flags.DEFINE_string("movielens_dir", real.movielens_dir,
                        "MovieLens folder: ratings.csv / ratings.dat / u.data, movies, tags.")
    flags.DEFINE_string("genome_dir", real.genome_dir,
                        "Tag genome folder (genome-scores.csv, genome-tags.csv); default: "
                        "--movielens_dir.")
    flags.DEFINE_string("soft_attributes_path", real.soft_attributes_path,
                        "soft-attributes.csv: also walk the 60 soft attributes and score the "
                        "walks against the human judgments.")
    flags.DEFINE_string("hm_dir", real.hm_dir,
                        "H&M folder (articles.csv, transactions_train.csv).")
    flags.DEFINE_list("hm_tag_columns", list(real.hm_tag_columns),
                      "H&M article columns whose values become binary tags.")
    flags.DEFINE_float("min_rating", real.min_rating, "MovieLens: ratings >= this are kept.")
    flags.DEFINE_integer("min_user_interactions", real.min_user_interactions,
                         "Real data: users with fewer interactions are dropped.")
    flags.DEFINE_integer("min_tag_items", real.min_tag_items,
                         "Real data: tags on fewer items are dropped.")
    flags.DEFINE_string("images_dir", real.images_dir,
                        "Item photos: H&M layout (<3 digits>/<id>.jpg), class folders "
                        "(<class>/<id>.jpg) or one folder (<id>.jpg); default <hm_dir>/images.")
    flags.DEFINE_string("interactions_path", real.interactions_path,
                        "Dataset 'interactions': a CSV with user_id,item_id columns.")
    flags.DEFINE_string("label_column", real.label_column,
                        "H&M article column of the product-type labels (feature CNN).")
    flags.DEFINE_integer("max_users", real.max_users,
                         "Recommenders: keep the first this many users (quick runs).")
    flags.DEFINE_string("visual_features_path", real.visual_features_path,
                        "A .npy [items, F] of visual features for visrank, fm and vbpr; default: "
                        "train a CNN on the product-type labels and use its features.")
    flags.DEFINE_string("visual_feature_ids_path", real.visual_feature_ids_path,
                        "The item id of each .npy row, one per line; default: sorted item ids.")
    flags.DEFINE_integer("num_items", synthetic.num_items, "Synthetic catalogue: items M.")
    flags.DEFINE_integer("num_users", synthetic.num_users, "Synthetic catalogue: users N.")
    flags.DEFINE_integer("num_attributes", synthetic.num_attributes,
                         "Synthetic catalogue: named attributes T.")
    flags.DEFINE_integer("num_nuisance_factors", synthetic.num_nuisance_factors,
                         "Synthetic catalogue: latent factors no attribute names.")
    flags.DEFINE_float("mean_interactions_per_user", synthetic.mean_interactions_per_user,
                       "Synthetic catalogue: mean interactions per user.")
    flags.DEFINE_float("preference_temperature", synthetic.preference_temperature,
                       "Synthetic catalogue: softmax temperature of users' choices.")
    flags.DEFINE_integer("catalogue_seed", synthetic.seed, "Synthetic catalogue seed.")
    flags.DEFINE_string("glove_path", None,
                        "A GloVe text file (glove.6B.300d.txt layout); default: packaged "
                        "GloVe 6B 50-d.")
    flags.DEFINE_integer("max_pairs", experiment.max_pairs,
                         "At most this many item pairs differing in one attribute.")
    flags.DEFINE_float("test_fraction", experiment.test_fraction, "Held-out share of pairs.")
    # Model.
    flags.DEFINE_enum("model", model.kind, list(MODEL_KINDS),
                      "cgir, its ablations (cgir_no_sparse, cgir_no_vae) or a baseline "
                      "(cbir, dscmr, tirg); or a recommender of purchases from photos: dvbpr "
                      "and its baselines (rand, poprank, bprmf, warp, fm, visrank, vbpr).")
    flags.DEFINE_integer("latent_dim", model.latent_dim, "D of item table and attribute codes.")
    flags.DEFINE_list("hidden_dims", [str(d) for d in model.hidden_dims],
                      "VAE encoder hidden sizes, comma-separated.")
    flags.DEFINE_float("dropout_rate", model.dropout_rate, "VAE input dropout.")
    flags.DEFINE_enum("similarity", model.similarity, list(SIMILARITIES),
                      "Item scoring: cosine / temperature (MacridVAE) or dot product.")
    flags.DEFINE_float("temperature", model.temperature, "τ of the cosine similarity.")
    flags.DEFINE_float("beta", model.beta, "β of the KL term.")
    flags.DEFINE_float("alignment_weight", model.alignment_weight, "λ_align.")
    flags.DEFINE_float("sparsity_weight", model.sparsity_weight, "λ_sparse (0: w/o Sparse).")
    flags.DEFINE_float("target_sparsity", model.target_sparsity, "ρ of the sparsity loss.")
    flags.DEFINE_integer("num_negatives", model.num_negatives,
                         "CBIR: sampled non-targets per triple; WARP: negatives per positive.")
    flags.DEFINE_float("label_weight", model.label_weight, "DSCMR: label-space loss weight.")
    flags.DEFINE_float("invariance_weight", model.invariance_weight,
                       "DSCMR: invariance loss weight.")
    flags.DEFINE_float("regularization", model.regularization,
                       "BPR-MF, WARP, FM, VBPR: λ of the L2 terms.")
    flags.DEFINE_float("user_regularization", model.user_regularization, "DVBPR: λ_θ.")
    flags.DEFINE_float("weight_decay", model.weight_decay, "DVBPR: weight decay of Φ.")
    flags.DEFINE_integer("image_size", model.image_size,
                         "Photo size for the CNNs (224: DVBPR's CNN-F as in the paper).")
    flags.DEFINE_float("cnn_width", model.cnn_width,
                       "CNN-F channel multiplier (1.0: the paper's 64/256/4096).")
    flags.DEFINE_enum("precision", model.precision, list(PRECISIONS),
                      "CNN compute precision; mixed_float16 for GPUs, mixed_bfloat16 for CPUs "
                      "and TPUs that have it.")
    flags.DEFINE_integer("feature_dim", model.feature_dim,
                         "Width of the product-type CNN's features (visrank, fm, vbpr).")
    flags.DEFINE_integer("feature_steps", model.feature_steps,
                         "Training steps of the product-type CNN.")
    # Training.
    flags.DEFINE_integer("steps", train.steps, "Training steps.")
    flags.DEFINE_integer("checkpoint_every", train.checkpoint_every,
                         "Steps between resumable checkpoints.")
    flags.DEFINE_integer("eval_every", train.eval_every,
                         "Steps between evaluations (TensorBoard scalars and pictures).")
    flags.DEFINE_integer("user_batch_size", train.user_batch_size, "Users per step.")
    flags.DEFINE_integer("triple_batch_size", train.triple_batch_size, "Triples per step.")
    flags.DEFINE_float("learning_rate", train.learning_rate, "Adam learning rate.")
    flags.DEFINE_enum("strategy", train.strategy, list(STRATEGIES),
                      "tf.distribute strategy; auto: mirrored over GPUs if several, else one.")
    flags.DEFINE_integer("seed", train.seed, "Seed of initialisation, batches and splits.")
    # Evaluation and export.
    flags.DEFINE_integer("walk_steps", evaluation.walk_steps, "Walk length N.")
    flags.DEFINE_float("step_size", evaluation.step_size, "γ_1; γ_n = step_size·n.")
    flags.DEFINE_bool("distinct", evaluation.distinct,
                      "No item twice in a walk (False: the paper's exact protocol).")
    flags.DEFINE_integer("max_eval_queries", evaluation.max_queries,
                         "Walk queries evaluated (a seeded sample of the held-out ones).")
    flags.DEFINE_enum("index", evaluation.index, ["scann", "brute_force"],
                      "Index used by the final evaluation.")
    flags.DEFINE_integer("auc_negatives", evaluation.auc_negatives,
                         "Recommenders: sampled negatives per user of the 'sampled' AUC.")
    flags.DEFINE_integer("top_k", evaluation.top_k,
                         "Recommenders: recommendations per user in the pictures.")


def experiment_config_from_flags(values: flags.FlagValues) -> ExperimentConfig:
    """Builds (and so validates) the config from parsed flag values."""
    try:
        hidden_dims = tuple(int(d) for d in values.hidden_dims)
    except ValueError:
        raise ValueError(f"--hidden_dims must be integers, got {values.hidden_dims}") from None
    return ExperimentConfig(
        name=values.name, work_dir=values.work_dir, export_dir=values.export_dir,
        dataset=values.dataset,
        synthetic=SyntheticCatalogueConfig(
            num_items=values.num_items, num_users=values.num_users,
            num_attributes=values.num_attributes,
            num_nuisance_factors=values.num_nuisance_factors,
            mean_interactions_per_user=values.mean_interactions_per_user,
            preference_temperature=values.preference_temperature, seed=values.catalogue_seed),
        data=RealDataConfig(
            movielens_dir=values.movielens_dir, genome_dir=values.genome_dir,
            soft_attributes_path=values.soft_attributes_path, hm_dir=values.hm_dir,
            hm_tag_columns=tuple(values.hm_tag_columns), min_rating=values.min_rating,
            min_user_interactions=values.min_user_interactions,
            min_tag_items=values.min_tag_items, images_dir=values.images_dir,
            interactions_path=values.interactions_path, label_column=values.label_column,
            max_users=values.max_users, visual_features_path=values.visual_features_path,
            visual_feature_ids_path=values.visual_feature_ids_path),
        glove_path=values.glove_path, max_pairs=values.max_pairs,
        test_fraction=values.test_fraction,
        model=ModelConfig(
            kind=values.model, latent_dim=values.latent_dim, hidden_dims=hidden_dims,
            dropout_rate=values.dropout_rate, similarity=values.similarity,
            temperature=values.temperature, beta=values.beta,
            alignment_weight=values.alignment_weight, sparsity_weight=values.sparsity_weight,
            target_sparsity=values.target_sparsity, num_negatives=values.num_negatives,
            label_weight=values.label_weight, invariance_weight=values.invariance_weight,
            regularization=values.regularization,
            user_regularization=values.user_regularization, weight_decay=values.weight_decay,
            image_size=values.image_size, cnn_width=values.cnn_width, precision=values.precision,
            feature_dim=values.feature_dim, feature_steps=values.feature_steps),
        train=TrainConfig(
            steps=values.steps, checkpoint_every=values.checkpoint_every,
            eval_every=values.eval_every, user_batch_size=values.user_batch_size,
            triple_batch_size=values.triple_batch_size, learning_rate=values.learning_rate,
            strategy=values.strategy, seed=values.seed),
        eval=EvalConfig(
            walk_steps=values.walk_steps, step_size=values.step_size, distinct=values.distinct,
            max_queries=values.max_eval_queries, index=values.index,
            auc_negatives=values.auc_negatives, top_k=values.top_k),
    )
