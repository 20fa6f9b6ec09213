"""Pure NumPy evaluation metrics: CGIR's (retrieval ranks, gradual-walk quality, independence)
and DVBPR's AUC.

Inputs are NumPy arrays (or anything `np.asarray` accepts) and outputs are Python floats or
NumPy arrays; nothing here touches TensorFlow. Every metric is vectorised over queries, walks
and items. The definitions are those of /work/shared/design/CGIR.md, section "Metrics", and
DVBPR.md, "Protocol".

Invalid input (wrong shapes, out-of-range ids, directions other than ±1, walks too short to
have a step, NaN values) raises `ValueError` naming the offending value rather than returning a
silently wrong number.
"""

import numpy as np

__all__ = [
    "target_ranks",
    "hit_rate",
    "mean_reciprocal_rank",
    "consistency",
    "restrictiveness",
    "gradual_scores",
    "rank_correlation",
    "tie_neutral_restrictiveness",
    "drift_from_reference",
    "jitter_step_to_step",
    "unevenness",
    "walk_shape_scores",
    "independence_level",
    "user_auc",
    "sample_negatives",
]


# --------------------------------------------------------------------------------------------
# Validation helpers.


def _as_int_vector(values, name, length=None):
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {values.shape}")
    if values.size and (
        not np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.bool_)
    ):
        raise ValueError(f"{name} must hold integer ids, got dtype {values.dtype}")
    if length is not None and values.shape[0] != length:
        raise ValueError(f"{name} has {values.shape[0]} entries, expected {length}")
    return values.astype(np.int64, copy=False)


def _check_ids_in_range(ids, num_items, name):
    bad = np.flatnonzero((ids < 0) | (ids >= num_items))
    if bad.size:
        raise ValueError(
            f"{name} out of range [0, {num_items}): value {ids[bad[0]]} at position {bad[0]}"
            f" ({bad.size} bad entries)"
        )


def _as_directions(direction, num_walks):
    direction = np.asarray(direction)
    if direction.shape != (num_walks,):
        raise ValueError(
            f"direction must have shape ({num_walks},) (one α per walk), got {direction.shape}"
        )
    bad = np.flatnonzero((direction != 1) & (direction != -1))
    if bad.size:
        raise ValueError(
            f"direction values must be +1 or -1, got {direction[bad[0]]!r} at walk {bad[0]}"
        )
    return direction.astype(np.float64)


def _as_relevance(relevance, name, ndim, with_reference=False, allow_nan=False):
    """`relevance` as float64 [P, N, ...] (or [P, N+1, ...] with the reference first), checked:
    `ndim` axes, at least 2 walk items, no NaN unless allowed (then no inf either)."""
    relevance = np.asarray(relevance, dtype=np.float64)
    if relevance.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {relevance.shape}")
    if with_reference and relevance.shape[1] < 3:
        raise ValueError(
            f"{name} needs the reference plus at least 2 walk items (axis 1 of length >= 3), "
            f"got {relevance.shape[1]} (shape {relevance.shape})"
        )
    if relevance.shape[1] < 2:
        raise ValueError(
            f"{name} needs walks of at least 2 steps, got {relevance.shape[1]} "
            f"(shape {relevance.shape}): with one item there is no step to compare"
        )
    if allow_nan:
        if np.isinf(relevance).any():
            walk = np.argwhere(np.isinf(relevance))[0][0]
            raise ValueError(f"{name} contains inf (first in walk {walk})")
        return relevance
    if np.isnan(relevance).any():
        # A NaN compares False everywhere and would silently count as "not increasing".
        walk = np.argwhere(np.isnan(relevance))[0][0]
        raise ValueError(f"{name} contains NaN (first in walk {walk})")
    return relevance


def _step_increases(relevance, direction):
    """1[α·rel_k < α·rel_{k+1}] for every step; relevance [P, N, ...] → bool [P, N−1, ...]."""
    signed = relevance * direction.reshape((-1,) + (1,) * (relevance.ndim - 1))
    return signed[:, :-1] < signed[:, 1:]


def _walked_attributes(caller, shape, attributes, directions):
    """Checked (attributes [P] int64, directions [P] ±1) of P walks over T attributes
    (`shape` = [P, steps, T]): at least one walk and at least 2 attributes, since the scores
    of the others average over the attributes other than the walked one."""
    num_walks, _, num_attributes = shape
    if num_walks == 0:
        raise ValueError(f"{caller} needs at least one walk, got shape {shape}")
    if num_attributes < 2:
        raise ValueError(
            f"{caller} needs at least 2 attributes (the scores of the others average over the "
            f"attributes other than the walked one), got T = {num_attributes}")
    attributes = _as_int_vector(attributes, "attributes", num_walks)
    _check_ids_in_range(attributes, num_attributes, "attributes")
    return attributes, _as_directions(directions, num_walks)


def _as_1d_ranks(ranks):
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.size == 0:
        raise ValueError(f"ranks must be a non-empty 1-D array, got shape {ranks.shape}")
    if np.isnan(ranks.astype(np.float64)).any() or (ranks < 1).any():
        raise ValueError(f"ranks are 1-based and must be >= 1, got min {np.min(ranks)}")
    return ranks


# --------------------------------------------------------------------------------------------
# Retrieval: HR@K and MRR.


def target_ranks(scores, targets, excluded=None):
    """1-based rank of each query's target among the candidate items, ties counted pessimistically.

    CGIR.md, Metrics (HR@K, MRR): the candidates are all items except the query's reference
    item, which is excluded. The rank is

        rank_q = 1 + #{j ≠ target_q, j ≠ excluded_q : s_qj ≥ s_q,target_q}

    so an item scoring *equal* to the target is counted ahead of it: a model that scores every
    item the same gets rank = number of candidates, never 1. The excluded item never counts,
    whatever its score. Scores of −inf (masked items) are allowed; NaN scores are not.

    Args:
      scores: float array [Q, M], the score of every item for each query.
      targets: int array [Q], the target item of each query, in [0, M).
      excluded: int array [Q] or None, the reference item of each query (not a candidate), in
        [0, M) and different from the target. None means every item is a candidate.

    Returns:
      int64 array [Q], the rank of each target, in [1, number of candidates].

    Raises:
      ValueError: if `scores` is not 2-D, `targets` / `excluded` do not have Q integer
        entries, an id is out of range, a target equals its excluded item, or a score is NaN.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D [queries, items], got shape {scores.shape}")
    num_queries, num_items = scores.shape
    if np.isnan(scores).any():
        query = np.argwhere(np.isnan(scores))[0][0]
        raise ValueError(f"scores contain NaN (first in query {query})")
    targets = _as_int_vector(targets, "targets", num_queries)
    _check_ids_in_range(targets, num_items, "targets")
    rows = np.arange(num_queries)

    ahead = scores >= scores[rows, targets][:, None]  # [Q, M]
    ahead[rows, targets] = False
    if excluded is not None:
        excluded = _as_int_vector(excluded, "excluded", num_queries)
        _check_ids_in_range(excluded, num_items, "excluded")
        same = np.flatnonzero(targets == excluded)
        if same.size:
            raise ValueError(
                f"target equals its excluded (reference) item {targets[same[0]]} at query "
                f"{same[0]} ({same.size} such queries): the target would not be a candidate"
            )
        ahead[rows, excluded] = False
    return 1 + ahead.sum(axis=1, dtype=np.int64)


def hit_rate(ranks, k):
    """HR@K: the share of queries whose target is ranked within the top k (CGIR.md, Metrics).

    Args:
      ranks: int array [Q], 1-based ranks (e.g. from `target_ranks`).
      k: int >= 1, the cut-off K.

    Returns:
      float, mean_q 1[rank_q ≤ k].
    """
    ranks = _as_1d_ranks(ranks)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return float(np.mean(ranks <= k))


def mean_reciprocal_rank(ranks):
    """MRR: the mean of 1 / rank over queries (CGIR.md, Metrics).

    Args:
      ranks: int array [Q], 1-based ranks (e.g. from `target_ranks`).

    Returns:
      float, mean_q 1 / rank_q.
    """
    ranks = _as_1d_ranks(ranks)
    return float(np.mean(1.0 / ranks.astype(np.float64)))


# --------------------------------------------------------------------------------------------
# Gradual walks: consistency, restrictiveness, MGS.


def consistency(target_relevance, direction):
    """Consistency of each walk in the walked attribute t (CGIR.md, Metrics).

        Consistency(seq, t) = 1/(N−1) Σ_{k=1}^{N−1} 1[α·rel(seq@k, t) < α·rel(seq@k+1, t)]

    The comparison is strict: a tie (including a repeated item) counts as not moving in the
    requested direction. With α = −1 a step counts when the relevance falls.

    Args:
      target_relevance: float array [P, N], rel(seq@k, t) of the walked attribute t along each of
        P walks of N steps.
      direction: array [P] of +1 ("more") or −1 ("less"), the action α of each walk.

    Returns:
      float64 array [P], the share of the N−1 steps that move in direction α, in [0, 1].

    Raises:
      ValueError: if N < 2, `direction` is not [P] of ±1, or the relevance contains NaN.
    """
    target_relevance = _as_relevance(target_relevance, "target_relevance", ndim=2)
    direction = _as_directions(direction, target_relevance.shape[0])
    return _step_increases(target_relevance, direction).mean(axis=1)


def restrictiveness(other_relevance, direction):
    """Restrictiveness of each walk in every other attribute t' (CGIR.md, Metrics).

        Restrictiveness(seq, t') =
            1 − | 1/(N−1) Σ_{k=1}^{N−1} s(α·rel(seq@k, t') < α·rel(seq@k+1, t')) |

    with s(True) = +1, s(False) = −1. The absolute value (lost from the paper's text, restored in
    CGIR.md) makes a walk whose t' relevance goes up and down equally often score 1 and a walk
    that drifts monotonically in t' (either way) score 0.

    Ties follow the formula literally: a step with equal relevance (e.g. a repeated item) is
    s(False) = −1, the same as a step against α. So a t' that stays exactly level along the whole
    walk scores 0, not 1, and with ties the score depends on α (flipping α flips the sign of the
    non-tie steps only).

    Args:
      other_relevance: float array [P, N, T'], rel(seq@k, t') of every other attribute t' along
        each of P walks of N steps.
      direction: array [P] of +1 or −1, the action α of each walk.

    Returns:
      float64 array [P, T'], the restrictiveness of each walk in each other attribute, in [0, 1].

    Raises:
      ValueError: if N < 2, `direction` is not [P] of ±1, or the relevance contains NaN.
    """
    other_relevance = _as_relevance(other_relevance, "other_relevance", ndim=3)
    direction = _as_directions(direction, other_relevance.shape[0])
    signs = np.where(_step_increases(other_relevance, direction), 1.0, -1.0)  # [P, N−1, T']
    return 1.0 - np.abs(signs.mean(axis=1))


def gradual_scores_with_missing(relevance, attributes, directions):
    """MGS, MGS-C and MGS-R when some relevance values are unknown (NaN), e.g. human judgments
    that cover most but not all items.

    A step counts only if both its items have a known value: consistency is the share of known
    steps of the walked attribute that move in direction α; restrictiveness of t' uses its known
    steps (a t' with none is left out of the walk's mean). Walks without a known step in the
    walked attribute, or in any other attribute, are left out. With no NaN this equals
    `gradual_scores`.

    Args:
      relevance: float array [P, N, T] with NaN where unknown.
      attributes: int [P] walked attribute; directions: [P] of ±1.

    Returns:
      dict "mgs", "mgs_c", "mgs_r" and "walks_scored" (how many walks had known steps).

    Raises:
      ValueError: as `gradual_scores` (but NaN is allowed), or if no walk can be scored.
    """
    relevance = np.asarray(relevance, dtype=np.float64)
    if relevance.ndim != 3 or relevance.shape[1] < 2 or relevance.shape[2] < 2:
        raise ValueError(f"relevance must be [P, N >= 2, T >= 2], got shape {relevance.shape}")
    num_walks, _, num_attributes = relevance.shape
    attributes = _as_int_vector(attributes, "attributes", num_walks)
    _check_ids_in_range(attributes, num_attributes, "attributes")
    directions = _as_directions(directions, num_walks)
    known = ~np.isnan(relevance[:, :-1]) & ~np.isnan(relevance[:, 1:])  # [P, N-1, T]
    increases = _step_increases(np.nan_to_num(relevance), directions) & known
    signs = np.where(increases, 1.0, -1.0) * known
    num_known = known.sum(axis=1)  # [P, T]
    with np.errstate(invalid="ignore", divide="ignore"):
        consistency_all = increases.sum(axis=1) / num_known
        restrictiveness_all = 1.0 - np.abs(signs.sum(axis=1) / num_known)
    walks = np.arange(num_walks)
    walk_consistency = consistency_all[walks, attributes]
    others = np.ones((num_walks, num_attributes), dtype=bool)
    others[walks, attributes] = False
    others &= num_known > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        walk_restrictiveness = (np.where(others, restrictiveness_all, 0.0).sum(axis=1)
                                / others.sum(axis=1))
    scored = ~np.isnan(walk_consistency) & ~np.isnan(walk_restrictiveness)
    if not scored.any():
        raise ValueError("no walk has a step with known relevance to score")
    c, r = walk_consistency[scored], walk_restrictiveness[scored]
    return {"mgs": float(np.mean(c * r)), "mgs_c": float(np.mean(c)),
            "mgs_r": float(np.mean(r)), "walks_scored": int(scored.sum())}


def gradual_scores(relevance, attributes, directions, per_walk=False):
    """MGS, MGS-C and MGS-R over a set of walks (CGIR.md, Metrics).

    For walk p with walked attribute t_p and action α_p:

        c_p = Consistency(seq_p, t_p)
        r_p = mean_{t' ≠ t_p} Restrictiveness(seq_p, t')
        MGS = mean_p c_p · r_p,   MGS-C = mean_p c_p,   MGS-R = mean_p r_p

    Note MGS is the mean of the per-walk products, not MGS-C · MGS-R. See `restrictiveness` for
    how ties are scored.

    Args:
      relevance: float array [P, N, T], rel(seq@k, t) of every attribute along each of P walks of
        N steps.
      attributes: int array [P], the column (in [0, T)) of the walked attribute of each walk.
      directions: array [P] of +1 or −1, the action α of each walk.
      per_walk: if True, also return the per-walk arrays.

    Returns:
      dict with floats "mgs", "mgs_c", "mgs_r"; with `per_walk=True` also "consistency" [P] and
      "restrictiveness" [P] (float64 arrays of c_p and r_p).

    Raises:
      ValueError: if there are no walks, N < 2, T < 2 (no other attribute to be restrictive
        in), an attribute column is out of range, `directions` is not [P] of ±1, or the
        relevance contains NaN.
    """
    relevance = _as_relevance(relevance, "relevance", ndim=3)
    num_walks, _, num_attributes = relevance.shape
    attributes, directions = _walked_attributes("gradual_scores", relevance.shape, attributes,
                                                directions)

    walks = np.arange(num_walks)
    # Advanced indices separated by a slice put the walk axis first: [P, N].
    walk_consistency = consistency(relevance[walks, :, attributes], directions)
    # Restrictiveness of every column, then average over all columns but the walked one.
    all_restrictiveness = restrictiveness(relevance, directions)  # [P, T]
    others = np.ones((num_walks, num_attributes), dtype=bool)
    others[walks, attributes] = False
    walk_restrictiveness = (all_restrictiveness * others).sum(axis=1) / (num_attributes - 1)

    scores = {
        "mgs": float(np.mean(walk_consistency * walk_restrictiveness)),
        "mgs_c": float(np.mean(walk_consistency)),
        "mgs_r": float(np.mean(walk_restrictiveness)),
    }
    if per_walk:
        scores["consistency"] = walk_consistency
        scores["restrictiveness"] = walk_restrictiveness
    return scores


# --------------------------------------------------------------------------------------------
# Walk shape: tie-neutral restrictiveness, steadiness of the other attributes, evenness of the
# walked one. Read beside MGS / MGS-C / MGS-R, not instead of them.


def _known_mean(values, known, axis):
    """Mean of `values` over the entries where `known` along `axis`; NaN where none is known."""
    total = np.where(known, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / known.sum(axis=axis)


def _mean_of_known(values, axis):
    """Mean along `axis` of the non-NaN entries; NaN where all are NaN (no warning)."""
    return _known_mean(values, ~np.isnan(values), axis)


def _tie_neutral_restrictiveness(relevance, direction):
    """NaN-aware kernel: [P, N, T] (NaN = unknown) → [P, T], NaN where no step is known."""
    filled = np.nan_to_num(relevance)
    signs = (_step_increases(filled, direction).astype(np.float64)
             - _step_increases(filled, -direction))  # +1 with α, −1 against, 0 tie
    known = ~np.isnan(relevance[:, :-1]) & ~np.isnan(relevance[:, 1:])
    return 1.0 - np.abs(_known_mean(signs, known, axis=1))


def _drift(relevance):
    """NaN-aware kernel: [P, N+1, T] → [P, T], mean_k |rel_k − rel_0|."""
    return _mean_of_known(np.abs(relevance[:, 1:] - relevance[:, :1]), axis=1)


def _jitter(relevance):
    """NaN-aware kernel: [P, N+1, T] → [P, T], mean_k |rel_k − rel_{k−1}|."""
    return _mean_of_known(np.abs(np.diff(relevance, axis=1)), axis=1)


def _unevenness(target_relevance, direction):
    """NaN-aware kernel: [P, N+1] → [P], mean_k |d_k − δ|."""
    steps = target_relevance.shape[1] - 1
    increments = direction[:, None] * np.diff(target_relevance, axis=1)  # d_k, [P, N]
    equal_step = direction * (target_relevance[:, -1] - target_relevance[:, 0]) / steps  # δ
    return _mean_of_known(np.abs(increments - equal_step[:, None]), axis=1)


def tie_neutral_restrictiveness(other_relevance, direction):
    """Restrictiveness with ties counted as neutral, in every other attribute t'.

        TN-Restrictiveness(seq, t') = 1 − | 1/(N−1) Σ_{k=1}^{N−1} s_k |,
        s_k = +1 if α·rel(seq@k, t') < α·rel(seq@k+1, t'), −1 if >, 0 if equal.

    Unlike `restrictiveness` (CGIR's MGS-R, where a tie is −1), a t' that stays exactly level
    scores 1, as does one that goes up and down equally often; a monotone drift either way
    scores 0. Because ties no longer count against α, the score does not depend on α (flipping
    α flips every s_k and the absolute value undoes it); α is taken for symmetry with
    `restrictiveness`. Like it, this rewards "no net drift", not steadiness (see
    `jitter_step_to_step`).

    Args:
      other_relevance: float array [P, N, T'], rel(seq@k, t') along each of P walks of N items.
      direction: array [P] of +1 or −1, the action α of each walk.

    Returns:
      float64 array [P, T'] in [0, 1].

    Raises:
      ValueError: if `other_relevance` is not 3-D, N < 2, `direction` is not [P] of ±1, or the
        relevance contains NaN.
    """
    other_relevance = _as_relevance(other_relevance, "other_relevance", ndim=3)
    direction = _as_directions(direction, other_relevance.shape[0])
    return _tie_neutral_restrictiveness(other_relevance, direction)


def drift_from_reference(other_relevance):
    """Steadiness of every other attribute t' measured from the reference (lower is better).

        Drift(seq, t') = 1/N Σ_{k=1}^{N} | rel(seq@k, t') − rel(seq@0, t') |,  seq@0 = reference

    in relevance units: 0 when no walk item differs from the reference in t'.

    Args:
      other_relevance: float array [P, N+1, T'], position 0 the reference, 1..N the walk.

    Returns:
      float64 array [P, T'], in relevance units.

    Raises:
      ValueError: if `other_relevance` is not 3-D, N < 2, or it contains NaN or inf.
    """
    return _drift(_as_relevance(other_relevance, "other_relevance", ndim=3, with_reference=True))


def jitter_step_to_step(other_relevance):
    """Steadiness of every other attribute t' from step to step (lower is better).

        Jitter(seq, t') = 1/N Σ_{k=1}^{N} | rel(seq@k, t') − rel(seq@k−1, t') |,  seq@0 = reference

    in relevance units: 0 when t' never changes; unlike restrictiveness, a zig-zag scores high.

    Args:
      other_relevance: float array [P, N+1, T'], position 0 the reference, 1..N the walk.

    Returns:
      float64 array [P, T'], in relevance units.

    Raises:
      ValueError: if `other_relevance` is not 3-D, N < 2, or it contains NaN or inf.
    """
    return _jitter(_as_relevance(other_relevance, "other_relevance", ndim=3, with_reference=True))


def unevenness(target_relevance, direction):
    """How unevenly the walked attribute t moves along each walk (lower is better).

        d_k = α·(r_k − r_{k−1}) for k = 1..N,   δ = α·(r_N − r_0) / N,
        Unevenness(seq, t) = 1/N Σ_{k=1}^{N} | d_k − δ |

    with r_0 = rel(reference, t), r_k = rel(seq@k, t): 0 when every step moves t by the same
    amount δ. A walk that never moves (all d_k = δ = 0) and one moving evenly *against* α also
    score 0, so this is read beside consistency, never alone. α cancels inside |·|; it is taken
    so the formula reads as the signed increments.

    Args:
      target_relevance: float array [P, N+1], r_0 (the reference) .. r_N.
      direction: array [P] of +1 or −1, the action α of each walk.

    Returns:
      float64 array [P].

    Raises:
      ValueError: if `target_relevance` is not 2-D, N < 2, `direction` is not [P] of ±1, or the
        relevance contains NaN or inf.
    """
    target_relevance = _as_relevance(target_relevance, "target_relevance", ndim=2,
                                     with_reference=True)
    direction = _as_directions(direction, target_relevance.shape[0])
    return _unevenness(target_relevance, direction)


def walk_shape_scores(relevance, attributes, directions, per_walk=False):
    """The walk-shape scores of a set of walks, NaN-aware (NaN = unknown relevance).

    For walk p (walked attribute t_p, action α_p, reference seq@0, walk items seq@1..seq@N):

        mgs_r_tn = mean_p mean_{t' ≠ t_p} TN-Restrictiveness(seq@1..seq@N, t')
        drift    = mean_p mean_{t' ≠ t_p} Drift(seq@0..seq@N, t')
        jitter   = mean_p mean_{t' ≠ t_p} Jitter(seq@0..seq@N, t')
        uneven   = mean_p Unevenness(seq@0..seq@N, t_p)

    (see `tie_neutral_restrictiveness`, `drift_from_reference`, `jitter_step_to_step`,
    `unevenness`). mgs_r_tn uses the same N−1 steps as MGS-R (the reference excluded) so the
    two are comparable; drift, jitter and uneven include the step from the reference.

    Missing values: a step or difference counts only if both its values are known; each mean
    over k is over the known ones, a t' with none is left out of the mean over t', and a walk
    with nothing known is left out of that column's mean over walks. Unevenness needs r_0 and
    r_N (for δ). A column with no walk to score is NaN. With no NaN these are plain means.

    Args:
      relevance: float array [P, N+1, T], rel of every attribute at the reference (position 0)
        and along each walk (1..N), NaN where unknown.
      attributes: int array [P], the walked column t_p, in [0, T).
      directions: array [P] of +1 or −1, the action α_p.
      per_walk: if True, also return the per-walk arrays.

    Returns:
      dict of floats "mgs_r_tn" (higher is better), "drift", "jitter", "uneven" (lower is
      better); with `per_walk=True` also "<name>_per_walk" float64 arrays [P] (NaN for a walk
      left out).

    Raises:
      ValueError: if `relevance` is not 3-D, there is no walk, N < 2, T < 2, an attribute is
        out of range, `directions` is not [P] of ±1, or the relevance contains inf.
    """
    relevance = _as_relevance(relevance, "relevance", ndim=3, with_reference=True,
                              allow_nan=True)
    num_walks, _, num_attributes = relevance.shape
    attributes, directions = _walked_attributes("walk_shape_scores", relevance.shape,
                                                attributes, directions)

    walks = np.arange(num_walks)
    others = np.ones((num_walks, num_attributes), dtype=bool)
    others[walks, attributes] = False
    per_attribute = {  # [P, T], NaN where nothing is known
        "mgs_r_tn": _tie_neutral_restrictiveness(relevance[:, 1:], directions),
        "drift": _drift(relevance),
        "jitter": _jitter(relevance),
    }
    walk_scores = {name: _known_mean(values, others & ~np.isnan(values), axis=1)
                   for name, values in per_attribute.items()}
    walk_scores["uneven"] = _unevenness(relevance[walks, :, attributes], directions)

    scores = {name: float(_mean_of_known(values, axis=0)) for name, values in walk_scores.items()}
    if per_walk:
        scores.update({f"{name}_per_walk": values for name, values in walk_scores.items()})
    return scores


def columns_kept(tags, attribute_columns, attributes):
    """The share of the other categorical columns each walk item keeps as the reference has
    them (higher is better): on tags made of categorical columns (H&M's product type, colour,
    pattern, ...), the question "is it still a pair of leggings?" that drift over 135 binary
    tags barely registers (a product-type change moves 2 of them).

        Kept = mean_p 1/N Σ_{k=1}^{N} mean_{c ≠ c(t_p)} 1[value(seq@k, c) = value(seq@0, c)]

    with value(i, c) the tag item i has in column c, "none" when it has none of them (a value
    too rare to be a tag), which counts as a value.

    Args:
      tags: binary array [P, N+1, T], position 0 the reference, 1..N the walk.
      attribute_columns: int array [T], the column of every tag.
      attributes: int array [P], the walked tag t_p.

    Returns:
      float: 1 when no walk item differs from its reference in any column but the walked one's.

    Raises:
      ValueError: if `tags` is not 3-D with N ≥ 1 or not binary, `attribute_columns` is not
        [T], an attribute is out of range, an item has two tags of one column, or there is no
        other column.
    """
    tags = np.asarray(tags)
    if tags.ndim != 3 or tags.shape[1] < 2 or tags.shape[0] == 0:
        raise ValueError(f"tags must be [P >= 1, N + 1 >= 2, T], got shape {tags.shape}")
    if not np.isin(tags, (0, 1)).all():
        raise ValueError("tags must be binary (0 / 1)")
    num_walks, _, num_tags = tags.shape
    columns = _as_int_vector(attribute_columns, "attribute_columns", num_tags)
    attributes = _as_int_vector(attributes, "attributes", num_walks)
    if (attributes < 0).any() or (attributes >= num_tags).any():
        raise ValueError(f"attributes must be in [0, {num_tags}), got {attributes.tolist()}")
    column_ids = np.unique(columns)
    if len(column_ids) < 2:
        raise ValueError("columns_kept needs at least 2 columns: it scores the ones not walked")
    # values [P, N+1, C]: the index of the tag held in each column, −1 for none.
    values = np.full(tags.shape[:2] + (len(column_ids),), -1, np.int64)
    for position, column in enumerate(column_ids):
        members = np.flatnonzero(columns == column)
        held = tags[..., members].astype(np.int64)
        if (held.sum(axis=-1) > 1).any():
            raise ValueError(f"an item has two tags of column {column}")
        values[..., position] = np.where(held.any(axis=-1), members[held.argmax(axis=-1)], -1)
    same = values[:, 1:] == values[:, :1]
    others = column_ids[None, :] != columns[attributes][:, None]
    kept_per_walk = (same.mean(axis=1) * others).sum(axis=1) / others.sum(axis=1)
    return float(kept_per_walk.mean())


def mean_ranks(values):
    """[M, T] → [M, T] float64 0-based ranks of each column, ties given their mean rank."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, axis=0, kind="stable")
    ranks = np.empty_like(values)
    np.put_along_axis(ranks, order, np.arange(len(values), dtype=np.float64)[:, None], axis=0)
    for column in range(values.shape[1]):
        _, inverse, counts = np.unique(values[:, column], return_inverse=True,
                                       return_counts=True)
        inverse = inverse.reshape(-1)
        ranks[:, column] = (np.bincount(inverse, weights=ranks[:, column])[inverse]
                            / counts[inverse])
    return ranks


def rank_correlation(estimated, truth):
    """Spearman's ρ of each column: how well estimated levels order items as the truth does.

        ρ_t = corr(rank(estimated[:, t]), rank(truth[:, t])),  ties given their mean rank

    Args:
      estimated, truth: float arrays [M, T] (M >= 2), no NaN.

    Returns:
      float64 array [T]; NaN for a column constant in either input.
    """
    estimated = np.asarray(estimated, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if estimated.shape != truth.shape or estimated.ndim != 2 or estimated.shape[0] < 2:
        raise ValueError(f"estimated and truth must both be [M >= 2, T], got shapes "
                         f"{estimated.shape} and {truth.shape}")
    if np.isnan(estimated).any() or np.isnan(truth).any():
        raise ValueError("rank_correlation got NaN")
    a, b = mean_ranks(estimated), mean_ranks(truth)
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


# --------------------------------------------------------------------------------------------
# Independence of the item table.


def independence_level(item_vectors):
    """Independence level of the item representation dimensions (CGIR.md, Metrics, "Ind").

        Ind = 1 − 1/(D(D−1)) Σ_{d ≠ d'} |corr(H[:, d], H[:, d'])|

    with corr the Pearson correlation over the M items. A dimension with zero variance (the same
    value for every item, e.g. a dead ReLU unit) has an undefined correlation; its correlations
    are taken as 0 — a dead dimension is trivially independent of the others — so the result is
    never NaN. "Zero variance" means exactly constant (max == min), so rounding in the mean of a
    constant column cannot turn it into a spuriously correlated one.

    Args:
      item_vectors: float array [M, D], the item table H.

    Returns:
      float in [0, 1]: 1 for pairwise uncorrelated dimensions, 0 for perfectly (anti-)correlated.

    Raises:
      ValueError: if H is not 2-D, D < 2 (no pair of dimensions), M < 2, or H is not finite.
    """
    item_vectors = np.asarray(item_vectors, dtype=np.float64)
    if item_vectors.ndim != 2:
        raise ValueError(f"item_vectors must be 2-D [items, dims], got shape {item_vectors.shape}")
    num_items, num_dims = item_vectors.shape
    if num_dims < 2:
        raise ValueError(
            f"independence_level needs at least 2 dimensions to correlate, got D = {num_dims}"
        )
    if num_items < 2:
        raise ValueError(f"independence_level needs at least 2 items, got M = {num_items}")
    if not np.isfinite(item_vectors).all():
        raise ValueError("item_vectors contain NaN or inf")

    alive = np.ptp(item_vectors, axis=0) > 0  # [D]
    centred = item_vectors - item_vectors.mean(axis=0)
    norms = np.linalg.norm(centred, axis=0)
    # Dead columns become all-zero, so their correlations are 0 instead of 0/0.
    unit = np.where(alive, centred / np.where(alive, norms, 1.0), 0.0)
    correlation = np.clip(unit.T @ unit, -1.0, 1.0)  # [D, D]
    off_diagonal = np.abs(correlation).sum() - np.abs(np.diag(correlation)).sum()
    return float(1.0 - off_diagonal / (num_dims * (num_dims - 1)))


# --------------------------------------------------------------------------------------------
# Recommendation: AUC (DVBPR.md, Protocol).


def user_auc(positive_scores, negative_scores, negative_mask=None):
    """Each user's AUC: the share of their negatives scored below their positive.

        AUC_u = 1/|D_u| Σ_{j ∈ D_u} (1[x_{u,i} > x_{u,j}] + ½·1[x_{u,i} = x_{u,j}])

    DVBPR.md's definition counts only 1[x_{u,i} > x_{u,j}]; ties count half here (the
    Mann–Whitney AUC), which is the same for any model whose scores differ, and keeps PopRank
    — whose never-bought items all tie at 0 — at its rank rather than at 0.

    Args:
      positive_scores: float array [U], x_{u,i} of each user's held-out item.
      negative_scores: float array [U, J], scores of candidate negatives.
      negative_mask: bool array [U, J] or None, which candidates are negatives (e.g. not the
        user's train / validation / test items); None counts every column.

    Returns:
      float64 array [U]; NaN for a user with no negative.
    """
    positive_scores = np.asarray(positive_scores, dtype=np.float64)
    negative_scores = np.asarray(negative_scores, dtype=np.float64)
    if positive_scores.ndim != 1 or negative_scores.ndim != 2 or (
            len(positive_scores) != len(negative_scores)):
        raise ValueError(f"positive_scores must be [U] and negative_scores [U, J]; got shapes "
                         f"{positive_scores.shape} and {negative_scores.shape}")
    if np.isnan(positive_scores).any() or np.isnan(negative_scores).any():
        raise ValueError("scores contain NaN")
    if negative_mask is None:
        negative_mask = np.ones(negative_scores.shape, dtype=bool)
    negative_mask = np.asarray(negative_mask, dtype=bool)
    if negative_mask.shape != negative_scores.shape:
        raise ValueError(f"negative_mask has shape {negative_mask.shape}, negative_scores "
                         f"{negative_scores.shape}")
    below = ((negative_scores < positive_scores[:, None]) & negative_mask).sum(axis=1)
    tied = ((negative_scores == positive_scores[:, None]) & negative_mask).sum(axis=1)
    count = negative_mask.sum(axis=1)
    return np.where(count > 0, (below + 0.5 * tied) / np.maximum(count, 1), np.nan)


def sample_negatives(excluded, num_items, num_negatives, rng):
    """[U, num_negatives] items drawn uniformly, without replacement, from the items each user
    has not interacted with (`excluded[u]`), as the DVBPR authors' code evaluates AUC.

    Args:
      excluded: a sequence of U int arrays, each user's items that are not negatives.
      num_items: M.
      num_negatives: J; fewer than J allowed items is an error.
      rng: a NumPy Generator.
    """
    negatives = np.empty((len(excluded), num_negatives), dtype=np.int64)
    for user, items in enumerate(excluded):
        allowed = np.setdiff1d(np.arange(num_items), items, assume_unique=False)
        if len(allowed) < num_negatives:
            raise ValueError(f"user {user} has {len(allowed)} negatives, fewer than "
                             f"{num_negatives} to sample")
        negatives[user] = rng.choice(allowed, size=num_negatives, replace=False)
    return negatives


def inception_score(probabilities):
    """IS = exp(E_x KL(p(y|x) ‖ p(y))), p(y) the mean of p(y|x) over the images (Salimans et
    al.; DVBPR.md's image quality). tfgrad's classifier is trained on the same photos'
    categories (no ImageNet Inception-v3 offline), so IS ranges over 1 … C categories.

    Args:
      probabilities: [N, C] each image's class distribution.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"probabilities must be [N, C] with N > 0, got shape {p.shape}")
    marginal = p.mean(axis=0, keepdims=True)
    kl = np.sum(p * (np.log(np.maximum(p, 1e-12)) - np.log(np.maximum(marginal, 1e-12))), axis=1)
    return float(np.exp(kl.mean()))


def frechet_distance(features_a, features_b):
    """FID = ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½) between two feature sets (Heusel et
    al.), with Tr (Σ_a Σ_b)^½ = Σ √λ over the eigenvalues λ of Σ_a^½ Σ_b Σ_a^½ (symmetric, so
    no complex square roots).

    Args:
      features_a: [N, F]; features_b: [N', F].
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"features must be [N, F] and [N', F] with N, N' >= 2, got "
                         f"{a.shape} and {b.shape}")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sum(np.sqrt(np.clip(middle, 0, None)))
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                 - 2 * trace_root)


def ssim_diversity(images):
    """1 − the mean SSIM over every pair of `images` (DVBPR.md's diversity of a top-k).

    Args:
      images: [k, S, S, 3] floats in [0, 1], k ≥ 2.
    """
    import tensorflow as tf

    images = np.asarray(images, np.float32)
    if images.ndim != 4 or len(images) < 2:
        raise ValueError(f"images must be [k, S, S, 3] with k >= 2, got shape {images.shape}")
    first, second = np.triu_indices(len(images), k=1)
    similarity = tf.image.ssim(images[first], images[second], max_val=1.0,
                               filter_size=min(11, images.shape[1]))
    return float(1.0 - np.mean(similarity.numpy()))


def knn_precision(neighbour_labels, query_labels, k=None):
    """Visual KNN's recommendation precision (AGE.md): the share of each query's k nearest
    catalogue items with the query's class, averaged over queries.

    Args:
      neighbour_labels: [Q, K'] int classes of each query's neighbours, nearest first.
      query_labels: [Q] int classes of the queries.
      k: how many neighbours count (default all K').
    """
    neighbours = np.asarray(neighbour_labels)
    queries = np.asarray(query_labels)
    if neighbours.ndim != 2 or queries.shape != (len(neighbours),) or not len(queries):
        raise ValueError(f"neighbour_labels must be [Q, K] and query_labels [Q] with Q >= 1, "
                         f"got {neighbours.shape} and {queries.shape}")
    k = neighbours.shape[1] if k is None else k
    if not 1 <= k <= neighbours.shape[1]:
        raise ValueError(f"k must be in 1..{neighbours.shape[1]}, got {k}")
    return float(np.mean(neighbours[:, :k] == queries[:, None]))


def chance_knn_precision(catalogue_labels, query_labels):
    """The expected `knn_precision` of items drawn at random from the catalogue (at any k):
    Σ_c P(query class c) · P(catalogue class c)."""
    catalogue, queries = np.asarray(catalogue_labels), np.asarray(query_labels)
    if not len(catalogue) or not len(queries):
        raise ValueError("the catalogue and the queries must not be empty")
    classes = int(max(catalogue.max(), queries.max())) + 1
    share = lambda labels: np.bincount(labels, minlength=classes) / len(labels)  # noqa: E731
    return float(share(queries) @ share(catalogue))


__all__ += ["knn_precision", "chance_knn_precision"]


def manipulation_hits(retrieved_labels, target_labels, k):
    """ADDE's top-k accuracy per query (the authors' definition): a hit when some item among the
    first k retrieved has the query's *whole* target label vector.

    Args:
      retrieved_labels: [Q, K', A] int label vectors of each query's retrieved items, best
        first (-1 = missing, which must match a missing target value).
      target_labels: [Q, A] int.
      k: 1 ≤ k ≤ K'.

    Returns:
      [Q] bool.
    """
    retrieved, targets = np.asarray(retrieved_labels), np.asarray(target_labels)
    if retrieved.ndim != 3 or targets.shape != (retrieved.shape[0], retrieved.shape[2]):
        raise ValueError(f"retrieved_labels must be [Q, K, A] and target_labels [Q, A], got "
                         f"{retrieved.shape} and {targets.shape}")
    if not 1 <= k <= retrieved.shape[1]:
        raise ValueError(f"k must be in 1..{retrieved.shape[1]}, got {k}")
    return (retrieved[:, :k] == targets[:, None]).all(axis=2).any(axis=1)


def discounted_gains(relevance):
    """[..., k] graded relevance in [0, 1] -> [...] Σ_r (2^rel_r − 1) / ln(r + 1), r = 1 … k."""
    relevance = np.asarray(relevance, np.float64)
    discounts = np.log(np.arange(relevance.shape[-1]) + 2.0)
    return ((np.power(2.0, relevance) - 1.0) / discounts).sum(axis=-1)


def manipulation_ndcg(retrieved_labels, target_labels, k):
    """ADDE's NDCG@k per query (the authors' `compute_NDCG`): relevance of a retrieved item = the
    share of attributes whose value equals the target's; DCG with gains 2^rel − 1 and
    discounts ln(r + 1), divided by the DCG of k fully relevant items (the authors' ideal is
    all ones, not the best ordering of the catalogue).

    Args:
      retrieved_labels: [Q, K', A] int, best first.
      target_labels: [Q, A] int.
      k: 1 ≤ k ≤ K'.

    Returns:
      [Q] float64 in [0, 1].
    """
    manipulation_hits(retrieved_labels, target_labels, k)  # checks the shapes and k
    retrieved, targets = np.asarray(retrieved_labels), np.asarray(target_labels)
    relevance = (retrieved[:, :k] == targets[:, None]).mean(axis=2)
    return discounted_gains(relevance) / discounted_gains(np.ones(k))


def chance_manipulation_scores(catalogue_labels, target_labels, ks, ndcg_k):
    """The expected top-k accuracy and NDCG@ndcg_k of k catalogue items drawn at random without
    replacement, per query: top-k = 1 − C(M − m, k) / C(M, k) (m items have the target
    vector); NDCG = E[2^rel − 1] over the catalogue (every rank has the same expected gain,
    and the ideal's gain is 1 per rank).

    Returns:
      ({k: [Q] float64}, [Q] float64).
    """
    catalogue, targets = np.asarray(catalogue_labels), np.asarray(target_labels)
    size = len(catalogue)
    hits, gains = {k: [] for k in ks}, []
    for target in targets:
        matching = catalogue == target
        m = int(matching.all(axis=1).sum())
        for k in ks:
            # C(M − m, k) / C(M, k) = Π_{i<k} (M − m − i) / (M − i)
            misses = np.prod([(size - m - i) / (size - i) for i in range(k)]) \
                if size - m >= k else 0.0
            hits[k].append(1.0 - misses)
        gains.append(float(np.mean(np.power(2.0, matching.mean(axis=1)) - 1.0)))
    return {k: np.asarray(values) for k, values in hits.items()}, np.asarray(gains)


__all__ += ["manipulation_hits", "discounted_gains", "manipulation_ndcg",
            "chance_manipulation_scores"]
