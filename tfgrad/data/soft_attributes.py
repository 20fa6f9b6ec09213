"""SoftAttributes (Balog, Radlinski & Karatzoglou, SIGIR 2021): human "less / about as / more
<attribute> than <reference movie>" judgments, matched to a MovieLens catalogue.

Each record places up to 10 movies relative to a reference movie for one soft attribute. We read
every record as pairwise outcomes for that attribute — each placed movie against the reference
(more: a win, less: a loss, about as: a tie) and placed movies across buckets (every "less"
movie below every "about as" and "more" movie, every "about as" below every "more") — and turn
them into per-attribute scores with a Bradley–Terry model (ties count half a win to each side).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np
import pandas as pd

from tfgrad.data.catalogue import Catalogue

_BUCKETS = ("less_than", "about_as", "more_than")
_TRAILING_ARTICLE = re.compile(r"^(?P<title>.+?), (?P<article>the|a|an)(?P<rest>( \([^()]*\))+)$")


def normalize_title(title: str) -> str:
    """One key for MovieLens's and SoftAttributes's spellings of a title.

    'Silence of the Lambs, The (1991)' and 'The Silence of the Lambs (1991)' match (also before
    an alternative title in parentheses), and non-ASCII characters are dropped, since three
    SoftAttributes titles carry broken encodings of them ('Am��lie' for 'Amélie').
    """
    title = " ".join(str(title).lower().encode("ascii", "ignore").decode().split())
    match = _TRAILING_ARTICLE.match(title)
    if match:
        title = f"{match['article']} {match['title']}{match['rest']}"
    return title


@dataclasses.dataclass(frozen=True)
class SoftAttributeJudgments:
    """Pairwise human outcomes over catalogue items.

    Attributes:
      attributes: the S soft attribute strings.
      attribute: [C] int attribute index of each comparison.
      first, second: [C] int catalogue item indices compared.
      outcome: [C] float, 1 if `second` was judged more <attribute> than `first`, 0 if less,
        0.5 if about as.
      matched_titles, unmatched_titles: the judged titles found / not found in the catalogue.
    """

    attributes: tuple[str, ...]
    attribute: np.ndarray
    first: np.ndarray
    second: np.ndarray
    outcome: np.ndarray
    matched_titles: tuple[str, ...]
    unmatched_titles: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.attribute)


def _titles(cell) -> list[str]:
    if not isinstance(cell, str) or not cell.strip():
        return []
    titles = json.loads(cell)
    if not isinstance(titles, list):
        raise ValueError(f"expected a JSON list of titles, got {cell[:80]!r}")
    return [str(title) for title in titles]


def load_soft_attributes(path: str, catalogue: Catalogue) -> SoftAttributeJudgments:
    """Reads `soft-attributes.csv` and keeps the comparisons whose two movies are both in the
    catalogue (matched by normalised title)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"SoftAttributes file {path!r} does not exist")
    records = pd.read_csv(path)
    needed = {"reference_title", "soft_attribute", *_BUCKETS}
    if not needed <= set(records.columns):
        raise ValueError(f"{path!r} needs columns {sorted(needed)}, has {list(records.columns)}")
    item_of_title = {}
    for index, name in enumerate(catalogue.item_names.tolist()):
        item_of_title.setdefault(normalize_title(name), index)
    attributes = tuple(sorted(records.soft_attribute.astype(str).unique()))
    attribute_of = {attribute: index for index, attribute in enumerate(attributes)}

    comparisons, judged = [], set()
    for record in records.itertuples(index=False):
        try:
            buckets = [_titles(getattr(record, bucket)) for bucket in _BUCKETS]
        except (ValueError, json.JSONDecodeError) as error:
            raise ValueError(f"{path!r}: a record for {record.reference_title!r} has a "
                             f"malformed title list: {error}") from None
        judged.add(record.reference_title)
        judged.update(title for bucket in buckets for title in bucket)
        attribute = attribute_of[str(record.soft_attribute)]
        reference = item_of_title.get(normalize_title(record.reference_title))
        placed = [[item_of_title.get(normalize_title(t)) for t in bucket] for bucket in buckets]
        for level, bucket in enumerate(placed):
            for item in bucket:
                if reference is not None and item is not None:
                    comparisons.append((attribute, reference, item, level / 2.0))
                for higher in range(level + 1, 3):
                    for other in placed[higher]:
                        if item is not None and other is not None:
                            comparisons.append((attribute, item, other, 1.0))
    matched = tuple(sorted(t for t in judged if normalize_title(t) in item_of_title))
    unmatched = tuple(sorted(t for t in judged if normalize_title(t) not in item_of_title))
    table = np.array(comparisons, dtype=np.float64).reshape(-1, 4)
    return SoftAttributeJudgments(
        attributes=attributes, attribute=table[:, 0].astype(np.int64),
        first=table[:, 1].astype(np.int64), second=table[:, 2].astype(np.int64),
        outcome=table[:, 3], matched_titles=matched, unmatched_titles=unmatched)


def bradley_terry(num_players: int, first: np.ndarray, second: np.ndarray,
                  outcome: np.ndarray, prior: float = 0.5, iterations: int = 500,
                  tolerance: float = 1e-9) -> np.ndarray:
    """Bradley–Terry log-strengths by Hunter's (2004) MM iterations.

    P(second beats first) = p_s / (p_f + p_s). `outcome` is second's score in each comparison
    (1 win, 0 loss, 0.5 tie). Every player also plays `prior` virtual ties against a fixed
    player of strength 1, which keeps strengths finite for players who never lost (or never
    won) and fixes the scale.

    Returns:
      [num_players] log p, NaN for players in no comparison.
    """
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int64)
    outcome = np.asarray(outcome, dtype=np.float64)
    wins = (np.bincount(second, outcome, num_players)
            + np.bincount(first, 1.0 - outcome, num_players) + prior / 2.0)
    played = np.bincount(first, minlength=num_players) + np.bincount(second,
                                                                     minlength=num_players)
    strength = np.ones(num_players)
    for _ in range(iterations):
        inverse_sum = 1.0 / (strength[first] + strength[second])
        denominator = (np.bincount(first, inverse_sum, num_players)
                       + np.bincount(second, inverse_sum, num_players)
                       + prior / (strength + 1.0))
        # Players in no comparison (and no prior) keep strength 1; they are NaN below.
        updated = np.divide(wins, denominator, out=np.ones(num_players),
                            where=denominator > 0)
        if np.max(np.abs(np.log(updated) - np.log(strength))) < tolerance:
            strength = updated
            break
        strength = updated
    scores = np.log(strength)
    scores[played == 0] = np.nan
    return scores


def human_relevance(judgments: SoftAttributeJudgments, num_items: int) -> np.ndarray:
    """[M, S] per-attribute Bradley–Terry scores rescaled to [0, 1] over the judged items; NaN
    where an item was not judged for that attribute."""
    relevance = np.full((num_items, len(judgments.attributes)), np.nan, dtype=np.float32)
    for attribute in range(len(judgments.attributes)):
        chosen = judgments.attribute == attribute
        scores = bradley_terry(num_items, judgments.first[chosen], judgments.second[chosen],
                               judgments.outcome[chosen])
        low, high = np.nanmin(scores), np.nanmax(scores)
        relevance[:, attribute] = (scores - low) / max(high - low, 1e-12)
    return relevance


def direct_preferences(judgments: SoftAttributeJudgments) -> dict[tuple[int, int, int], float]:
    """(attribute, a, b) -> net human vote that b is more <attribute> than a (wins minus losses
    over their direct comparisons; ties add nothing). Stored for both orders, with opposite
    signs."""
    votes: dict[tuple[int, int, int], float] = {}
    for attribute, a, b, outcome in zip(judgments.attribute.tolist(), judgments.first.tolist(),
                                        judgments.second.tolist(), judgments.outcome.tolist()):
        vote = 2.0 * outcome - 1.0
        votes[(attribute, a, b)] = votes.get((attribute, a, b), 0.0) + vote
        votes[(attribute, b, a)] = votes.get((attribute, b, a), 0.0) - vote
    return votes
