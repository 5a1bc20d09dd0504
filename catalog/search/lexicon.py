"""Typo tolerance for the embedded fallback: the "did you mean" lexicon and a similarity in Python.

The lexicon is the table PostgreSQL's backend uses, ``catalog_searchword`` (created on SQLite by
migration 0006): here it holds every word of active products' titles (letters only, 3 to 30
long, lower case), the words the fallback can find. A query word it does not know is replaced
by its most similar lexicon word, the similarity being pg_trgm's (the Jaccard index of the two
words' trigram sets, padded as pg_trgm pads them), with the same 0.3 threshold, so both backends
forgive the same typos ("hedphones" -> "headphones": 0.62).

Bounded work: per unknown word one query, which narrows the lexicon to words of a similar length
sharing a trigram (or, for words under 5 letters, a pair of letters) with it, at most
CANDIDATE_LIMIT of them; the similarity is computed in Python for those only. Made for a demo
catalog (thousands of words); PostgreSQL's trigram index does the same at scale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import connections

from catalog.search.base import MIN_SUGGESTION_SIMILARITY

WORDS_TABLE = "catalog_searchword"
WORD = re.compile(r"[^\W\d_]{3,30}")  # letters only, 3 to 30 (PostgreSQL's [[:alpha:]]{3,30})
MIN_WORD_LENGTH = 3
LENGTH_SLACK = 3  # a correction is at most this many letters longer or shorter
CANDIDATE_LIMIT = 500
INSERT_BATCH = 500


def words_of(texts: Iterable[str]) -> set[str]:
    """The lexicon words of these texts, lower case."""
    return {match.lower() for text in texts for match in WORD.findall(text or "")}


def trigrams(word: str) -> set[str]:
    """pg_trgm's trigrams of one word: two spaces before it, one after."""
    padded = f"  {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def similarity(first: str, second: str) -> float:
    """pg_trgm's similarity: shared trigrams over all trigrams of the two words (0 to 1)."""
    a, b = trigrams(first), trigrams(second)
    return len(a & b) / len(a | b) if a or b else 0.0


def add_words(words: Iterable[str], *, alias: str) -> None:
    """Add words to the lexicon (known ones are skipped), in a fixed order so concurrent writers
    never wait on each other in a cycle."""
    ordered = sorted(set(words))
    with connections[alias].cursor() as cursor:
        for start in range(0, len(ordered), INSERT_BATCH):
            batch = ordered[start : start + INSERT_BATCH]
            cursor.executemany(
                f"INSERT INTO {WORDS_TABLE} (word) VALUES (%s) ON CONFLICT (word) DO NOTHING",  # noqa: S608
                [(word,) for word in batch],
            )


def clear(*, alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"DELETE FROM {WORDS_TABLE}")  # noqa: S608 (a constant table name)


def corrections(words: list[str], *, alias: str) -> dict[str, str]:
    """{misspelled word: the most similar lexicon word} for the words the lexicon does not know;
    the last word counts as known while it is the start of a known word (still being typed)."""
    wanted = [w for w in dict.fromkeys(words) if w.isalpha() and len(w) >= MIN_WORD_LENGTH]
    if not wanted:
        return {}
    with connections[alias].cursor() as cursor:
        marks = ", ".join(["%s"] * len(wanted))
        cursor.execute(f"SELECT word FROM {WORDS_TABLE} WHERE word IN ({marks})", wanted)  # noqa: S608
        known = {row[0] for row in cursor.fetchall()}
        found = {}
        for word in wanted:
            if word in known or (word == words[-1] and _starts_a_word(cursor, word)):
                continue
            nearest = _nearest(cursor, word)
            if nearest is not None:
                found[word] = nearest
    return found


def _starts_a_word(cursor, word: str) -> bool:
    cursor.execute(f"SELECT 1 FROM {WORDS_TABLE} WHERE word LIKE %s LIMIT 1", [f"{word}%"])  # noqa: S608
    return cursor.fetchone() is not None


def _nearest(cursor, word: str) -> str | None:
    size = 3 if len(word) >= 5 else 2
    pieces = sorted({word[i : i + size] for i in range(len(word) - size + 1)})
    shares = " OR ".join(["word LIKE %s"] * len(pieces))
    cursor.execute(
        f"SELECT word FROM {WORDS_TABLE} WHERE length(word) BETWEEN %s AND %s AND ({shares}) LIMIT %s",  # noqa: S608
        [len(word) - LENGTH_SLACK, len(word) + LENGTH_SLACK, *[f"%{piece}%" for piece in pieces], CANDIDATE_LIMIT],
    )
    scored = [(similarity(word, candidate), candidate) for (candidate,) in cursor.fetchall()]
    best = min(scored, key=lambda pair: (-pair[0], pair[1]), default=None)
    return best[1] if best and best[0] >= MIN_SUGGESTION_SIMILARITY and best[1] != word else None
