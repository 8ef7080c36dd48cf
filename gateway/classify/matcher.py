"""Matching the lexicons against a prompt: all categories' terms in one pass over its tokens,
tag lists piece by piece (memoised), and the terms matched on the text (CJK terms, patterns).

A positive term is ignored when a negator (``no``, ``not``, ``without`` …) precedes it within
three tokens of the same clause.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from itertools import accumulate, chain, compress
from operator import itemgetter
from typing import cast

from gateway.classify import literals
from gateway.classify.categories import Category
from gateway.classify.lexicon import Hit, Term
from gateway.classify.normalize import BREAKS, has_cjk, normalize_text, tokenize

NEGATORS = frozenset(
    {
        "no",
        "not",
        "without",
        "non",
        "never",
        "avoid",
        "t",
        "nt",
        "zero",
        "sans",
        "sin",
        "ohne",
        "kein",
        "keine",
        "keinen",
        "pas",
        "senza",
        "sem",
        "nessun",
    }
)
_NEGATION_WINDOW = 3
_MAX_MEMO = 200_000
#: Distinct tag pieces whose scan is kept (a piece and its hits: a few hundred bytes).
_MAX_PIECE_MEMO = 50_000
#: New pieces memoised from a prompt that is mostly new (scanned whole), for the next ones.
_LEARN_PER_PROMPT = 16
#: One term occurrence in a piece: (its entries' key, negated, the hits it adds).
Occurrence = tuple[int, bool, tuple["Hit", ...]]
#: A hit found on a piece's text (a CJK term or a pattern), with the rank of what found it:
#: -1 for CJK terms, then each pattern's place in the lexicons, as ``_match_text`` orders them.
RankedHit = tuple[int, "Hit"]
#: A pattern with its rank: (rank, name, finder, lexicon entry).
RankedPattern = tuple[int, str, "literals.Finder", "Term"]
#: A scanned piece: a comma and its tokens, its term occurrences, its text hits.
PieceScan = tuple[tuple[str, ...], tuple[Occurrence, ...], tuple[RankedHit, ...]]
_MAX_FUZZY_LENGTH = 40


def _hits(found: tuple[list[Term], str], negated: bool) -> tuple[Hit, ...]:
    """The hits of one term occurrence: a negated one keeps only its counter-evidence."""
    entries, evidence = found
    return tuple(
        Hit(entry.category, entry.weight, evidence)
        for entry in entries
        if entry.weight != 0.0 and not (negated and entry.weight > 0)
    )


def _deletions(word: str) -> Iterable[str]:
    return (word[:i] + word[i + 1 :] for i in range(len(word)))


class LexiconMatcher:
    """All categories' lexicons compiled for one pass over a prompt's tokens."""

    def __init__(self, lexicons: Mapping[Category, Mapping[str, float]], fuzzy_min_length: int):
        self._single: dict[str, list[Term]] = {}
        self._phrases: dict[str, list[tuple[tuple[str, ...], list[Term]]]] = {}
        self._phrase_terms: dict[tuple[str, ...], list[Term]] = {}
        self._written_words: set[str] = set()
        self._prefix: dict[str, list[Term]] = {}
        self._suffix: dict[str, list[Term]] = {}
        self._cjk: dict[str, list[Term]] = {}
        self._patterns: list[tuple[str, str, Term]] = []
        for category, terms in lexicons.items():
            for term, weight in terms.items():
                self._add(term, Term(category, weight, term))
        for phrase, entries in sorted(self._phrase_terms.items(), key=lambda e: -len(e[0])):
            self._phrases.setdefault(phrase[0], []).append((phrase, entries))
        #: Phrase head -> the words that follow it in some phrase: a head is only worth visiting
        #: when the prompt also holds one of its second words.
        self._phrase_seconds: dict[str, frozenset[str]] = {
            head: frozenset(phrase[1] for phrase, _ in entries)
            for head, entries in self._phrases.items()
        }
        #: The phrase heads as a set: ``words & heads`` then walks the prompt's few words,
        #: where intersecting with the dict walked every head in the lexicons (~4 µs a call).
        self._phrase_heads = frozenset(self._phrase_seconds)
        #: (first word, second word) -> the phrases starting so, longest first.
        self._pair_phrases: dict[tuple[str, str], list[tuple[tuple[str, ...], list[Term]]]] = {}
        for headed in self._phrases.values():
            for phrase, phrase_terms in headed:
                key = (phrase[0], phrase[1])
                self._pair_phrases.setdefault(key, []).append((phrase, phrase_terms))
        self._pair_heads = frozenset(head for head, _ in self._pair_phrases)
        self._prefixes = tuple(sorted(self._prefix, key=len, reverse=True))
        self._suffixes = tuple(sorted(self._suffix, key=len, reverse=True))
        self._cjk_regex = (
            re.compile("|".join(re.escape(t) for t in sorted(self._cjk, key=len, reverse=True)))
            if self._cjk
            else None
        )
        #: Each CJK term's hits, made once (the regex finds the term itself, its evidence).
        self._cjk_hits: dict[str, tuple[Hit, ...]] = {
            term: tuple(Hit(e.category, e.weight, term) for e in entries)
            for term, entries in self._cjk.items()
        }
        #: (name, finder, entry): the finder rules a pattern out of most prompts with one
        #: C-speed ``in``, and tries one that starts with a class ("[1-9]\\d{1,2} ?mm") only
        #: near its literal, not at every digit of a long tag list.
        self._compiled = [
            (name, literals.Finder.of(re.compile(pattern)), entry)
            for name, pattern, entry in self._patterns
        ]
        #: The patterns with their rank (the order ``_match_text`` gives their hits in). Those
        #: that never touch a comma find in a tag list what they find in each of its pieces
        #: (``literals.touches``): their hits are memoised by piece. The others (lists of
        #: items: "listing a, b and c") run on the whole prompt.
        self._ranked: list[RankedPattern] = []
        self._piece_patterns: list[RankedPattern] = []
        self._whole_patterns: list[RankedPattern] = []
        for rank, (name, finder, entry) in enumerate(self._compiled):
            ranked = (rank, name, finder, entry)
            self._ranked.append(ranked)
            by_piece = not literals.touches(finder.pattern, ",")
            (self._piece_patterns if by_piece else self._whole_patterns).append(ranked)
        self._cjk_by_piece = not any("," in term for term in self._cjk)
        self._fuzzy_min = fuzzy_min_length
        self._fuzzy_words: set[str] = {
            word
            for word, entries in self._single.items()
            if word in self._written_words
            and len(word) >= fuzzy_min_length
            and word.isascii()
            and word.isalpha()
            and max(t.weight for t in entries) >= 0.5
        }
        self._fuzzy_deleted: dict[str, str] = {}
        for word in sorted(self._fuzzy_words):
            for deleted in _deletions(word):
                self._fuzzy_deleted.setdefault(deleted, word)
        self._resolved: dict[str, tuple[list[Term], str] | None] = {}
        #: (term entries' id, evidence, negated) -> that occurrence's hits (``_hits``).
        self._made_hits: dict[tuple[int, str, bool], tuple[Hit, ...]] = {}
        #: Memoised words that resolved to a lexicon entry on their own.
        self._starters: set[str] = set()
        #: Tag pieces -> their scans (``match_pieces``).
        self._pieces: dict[str, PieceScan] = {}

    def _add(self, term: str, entry: Term) -> None:
        if term.startswith("re:"):
            name, _, pattern = term[3:].partition("=")
            re.compile(pattern.strip())  # fail at build time on a bad pattern
            self._patterns.append((name.strip(), pattern.strip(), entry))
            return
        normalized = normalize_text(term).strip()
        if not normalized:
            return
        if has_cjk(normalized):
            self._cjk.setdefault(normalized, []).append(entry)
            return
        if normalized.endswith("*"):
            self._prefix.setdefault(normalized[:-1], []).append(entry)
            return
        if normalized.startswith("*") and normalized[1:].isalnum():
            self._suffix.setdefault(normalized[1:], []).append(entry)
            return
        tokens = tuple(t for t in tokenize(normalized) if t not in BREAKS)
        if not tokens:
            return
        if len(tokens) == 1:
            self._single.setdefault(tokens[0], []).append(entry)
            self._written_words.add(tokens[0])
            return
        self._phrase_terms.setdefault(tokens, []).append(entry)
        joined = "".join(tokens)  # "photo realistic" also matches "photorealistic"
        if joined.isalpha() and len(joined) >= 6:
            self._single.setdefault(joined, []).append(entry)

    def match(
        self, normalized: str, tokens: list[str], words: frozenset[str] | set[str] | None = None
    ) -> list[Hit]:
        """Every lexicon hit in a prompt (already normalised and tokenised).

        Only the positions of tokens that can start a hit are visited: the prompt's distinct
        words are resolved once (memoised across prompts) and intersected with the words known
        to hit, or that head a phrase whose second word the prompt also holds, so a long
        prompt of ordinary words costs a few set operations instead of a loop over its tokens.
        """
        if words is None:
            words = set(tokens)
        hits: list[Hit] = []
        starts = self._starts(words)
        if starts:
            self._match_at(tokens, starts, hits)
        self._match_text(normalized, hits)
        return hits

    def match_pieces(
        self, normalized: str, pieces: Mapping[str, int]
    ) -> tuple[list[str], set[str], list[Hit]] | None:
        """``match`` for a prompt of comma-separated pieces (tags), piece by piece.

        A comma is a clause break: no phrase or negation window reaches across one, so a
        piece's term occurrences are the same wherever it stands and are memoised by its
        text; a term counts once over the whole prompt, as in ``match``. The CJK terms and
        the patterns that never touch a comma are memoised by piece too, and count once per
        occurrence of the piece, as on the whole text. ``pieces`` are the distinct pieces in
        order, with how often each occurs; returns the tokens of ``",".join(pieces)``, their
        set and the hits, as ``tokenize`` and ``match`` would give them (the hits found on the
        text may stand in another order among equals, which no score or evidence sees); or
        None when most of the pieces were never seen (then ``match`` on the whole is cheaper).
        """
        counts = list(pieces.values())
        distinct = list(pieces)
        memo = self._pieces
        # map, chain and itemgetter walk the pieces in C: a 4,000-character tag list has
        # hundreds, and a Python loop over them cost more than the rest of the match.
        got = list(map(memo.get, distinct))
        if None in got:
            missing = [piece for piece, scan in zip(distinct, got, strict=True) if scan is None]
            if len(missing) * 2 > len(distinct):
                # Mostly new pieces: scanning them one by one costs more than the whole
                # prompt (about 1.7x), so the caller does that; a few are learnt for next time.
                self._scan_pieces(missing[:_LEARN_PER_PROMPT])
                return None
            fresh = self._scan_pieces(missing)  # taken from the memo first: this may clear it
            scans = [scan or fresh[piece] for piece, scan in zip(distinct, got, strict=True)]
        else:
            scans = cast("list[PieceScan]", got)
        # Each piece's tokens are memoised after a comma: joined, they are the prompt's.
        tokens = list(chain.from_iterable(map(itemgetter(0), scans)))
        del tokens[0]
        seen: set[int] = set()
        hits: list[Hit] = []
        for key, negated, found in chain.from_iterable(map(itemgetter(1), scans)):
            if key in seen:
                continue
            if not negated:
                seen.add(key)
            hits.extend(found)
        # Text hits: each piece's, as often as the piece occurs (compress keeps the few pieces
        # that have any), those of the whole-prompt patterns, then in _match_text's order.
        texts = list(map(itemgetter(2), scans))
        ranked: list[RankedHit] = []
        for piece_hits, count in compress(zip(texts, counts, strict=True), texts):
            ranked.extend(piece_hits * count)
        self._rank_whole(normalized, ranked)
        ranked.sort(key=itemgetter(0))
        hits.extend(map(itemgetter(1), ranked))
        return tokens, set(tokens), hits

    def _scan_pieces(self, pieces: list[str]) -> dict[str, PieceScan]:
        """Scan pieces not seen before, all in one pass over their tokens joined by commas
        (a comma token ends every phrase and negation window, so each piece's occurrences are
        its own), and memoise each piece's tokens, occurrences and text hits."""
        # One tokenisation of them all, each after a comma: a comma token is where a piece
        # starts (no piece holds one: the prompt was split at them).
        tokens = tokenize("," + ",".join(pieces))
        commas = [0]
        for _ in range(len(pieces) - 1):
            commas.append(tokens.index(",", commas[-1] + 1))
        found: list[list[Occurrence]] = [[] for _ in pieces]
        starts = self._starts(set(tokens))
        if starts:
            for key, negated, term, _, i in self._occurrences(tokens, starts, set()):
                occurrence = (key, negated, self._hits(term, negated))
                found[bisect_right(commas, i) - 1].append(occurrence)
        texts = self._text_hits_by_piece(pieces)
        memo = self._pieces
        if len(memo) + len(pieces) > _MAX_PIECE_MEMO:
            memo.clear()
        ends = [*commas[1:], len(tokens)]
        scanned = {
            piece: (tuple(tokens[start:end]), tuple(occurrences), tuple(piece_texts))
            for piece, start, end, occurrences, piece_texts in zip(
                pieces, commas, ends, found, texts, strict=True
            )
        }
        memo.update(scanned)
        return scanned

    def _text_hits_by_piece(self, pieces: list[str]) -> list[list[RankedHit]]:
        """Each piece's CJK-term and comma-free pattern hits, ranked, found in one pass over
        the pieces joined by commas (none of them can match across one)."""
        joined = ",".join(pieces)
        at = list(self._text_hits(joined, self._cjk_by_piece, self._piece_patterns))
        found: list[list[RankedHit]] = [[] for _ in pieces]
        if at:
            offsets = list(accumulate((len(piece) + 1 for piece in pieces[:-1]), initial=0))
            for start, ranked in at:
                found[bisect_right(offsets, start) - 1].append(ranked)
        return found

    def _rank_whole(self, normalized: str, ranked: list[RankedHit]) -> None:
        """The text hits no piece can hold alone, ranked, on the whole prompt."""
        found = self._text_hits(normalized, not self._cjk_by_piece, self._whole_patterns)
        ranked.extend(map(itemgetter(1), found))

    def _text_hits(
        self, text: str, cjk: bool, patterns: list[RankedPattern]
    ) -> Iterator[tuple[int, RankedHit]]:
        """(where, ranked hit) of the CJK terms (if ``cjk``) and ``patterns`` found in
        ``text``, CJK terms first, then pattern by pattern."""
        if cjk and self._cjk_regex is not None and has_cjk(text):
            for m in self._cjk_regex.finditer(text):
                for hit in self._cjk_hits[m.group()]:
                    yield m.start(), (-1, hit)
        for rank, name, finder, entry in patterns:
            for m in finder.finditer(text):
                hit = Hit(entry.category, entry.weight, f"{name}:{m.group().strip()}")
                yield m.start(), (rank, hit)

    def _starts(self, words: frozenset[str] | set[str]) -> set[str]:
        """The words of a prompt that can start a hit: known to hit, or a phrase head whose
        second word the prompt also holds."""
        starts = self._starters.intersection(words)
        unseen = words.difference(self._resolved)
        if unseen:  # first sight of these words (or too long to memoise): resolve them now
            starts.update(tok for tok in unseen if self._resolve(tok) is not None)
        seconds = self._phrase_seconds
        for head in self._phrase_heads.intersection(words):
            if not words.isdisjoint(seconds[head]):
                starts.add(head)
        return starts

    def _match_text(self, normalized: str, hits: list[Hit]) -> None:
        """What is matched on the text rather than its tokens: CJK terms and patterns."""
        if self._cjk_regex is not None and has_cjk(normalized):  # no positions needed: C
            found = self._cjk_regex.findall(normalized)
            hits.extend(chain.from_iterable(map(self._cjk_hits.__getitem__, found)))
        hits.extend(hit for _, (_, hit) in self._text_hits(normalized, False, self._ranked))

    def _match_at(self, tokens: list[str], starts: set[str], hits: list[Hit]) -> None:
        """Hits of the term occurrences in ``tokens``; a repeated term is one piece of
        evidence (a negated occurrence adds only counter-evidence, and does not count)."""
        heads = self._pair_heads
        seen: set[int] = set()
        # Words that head no phrase and whose terms were already taken: a later occurrence adds
        # nothing (long prompts of tags repeat the same words dozens of times).
        done: set[str] = set()
        for key, negated, found, tok, _ in self._occurrences(tokens, starts, seen, done):
            if not negated:
                seen.add(key)
                if tok not in heads:
                    done.add(tok)
            hits.extend(self._hits(found, negated))

    def _occurrences(
        self,
        tokens: list[str],
        starts: set[str],
        seen: set[int],
        done: set[str] | None = None,
    ) -> Iterator[tuple[int, bool, tuple[list[Term], str], str, int]]:
        """(term key, negated, (entries, evidence), token, position) of each term occurrence,
        left to
        right, visiting only the positions whose word is in ``starts``; terms whose key is in
        ``seen`` and words in ``done`` are passed over (the caller fills both as it goes)."""
        pair_phrases, resolved, heads = self._pair_phrases, self._resolved, self._pair_heads
        if done is None:
            done = set()
        last = len(tokens) - 1
        next_free = 0
        for i in [k for k, tok in enumerate(tokens) if tok in starts]:
            if i < next_free:
                continue  # inside a phrase already matched
            tok = tokens[i]
            if tok in done:
                continue
            consumed = 1
            found: tuple[list[Term], str] | None = None
            candidates = (
                pair_phrases.get((tok, tokens[i + 1])) if i < last and tok in heads else None
            )
            if candidates is not None:
                for phrase, entries in candidates:
                    size = len(phrase)
                    if size == 2 or tuple(tokens[i : i + size]) == phrase:
                        found, consumed = (entries, " ".join(phrase)), size
                        break
            if found is None:
                found = resolved.get(tok)
                if found is None and tok not in resolved:
                    found = self._resolve(tok)
            next_free = i + consumed
            if found is not None and id(found[0]) not in seen:
                yield id(found[0]), self._negated(tokens, i), found, tok, i
            elif tok not in heads:
                done.add(tok)

    def _hits(self, found: tuple[list[Term], str], negated: bool) -> tuple[Hit, ...]:
        """``_hits`` of a term occurrence, memoised: the same words recur across prompts."""
        key = (id(found[0]), found[1], negated)
        made = self._made_hits.get(key)
        if made is None:
            made = _hits(found, negated)
            if len(self._made_hits) > _MAX_MEMO:
                self._made_hits.clear()
            self._made_hits[key] = made
        return made

    def _resolve(self, tok: str) -> tuple[list[Term], str] | None:
        """Single-token lookup: exact, plural, prefix, suffix, then one typo (memoised)."""
        single = self._single
        result: tuple[list[Term], str] | None = None
        found = single.get(tok)
        if found is None and len(tok) > 3 and tok[-1] == "s":
            found = single.get(tok[:-1])
        if found is None and tok.startswith(self._prefixes):
            found = self._prefix[next(p for p in self._prefixes if tok.startswith(p))]
        if found is None and tok.endswith(self._suffixes):
            suffix = next(s for s in self._suffixes if tok.endswith(s))
            if len(tok) > len(suffix):
                found = self._suffix[suffix]
        if found is not None:
            result = (found, tok)
        elif self._fuzzy_min - 1 <= len(tok) <= _MAX_FUZZY_LENGTH:
            word = self._fuzzy(tok)
            if word is not None:
                result = (single[word], f"{tok}~{word}")
        if len(tok) <= _MAX_FUZZY_LENGTH:
            if len(self._resolved) > _MAX_MEMO:
                self._resolved.clear()
                self._starters = set()
            self._resolved[tok] = result
            if result is not None:
                self._starters.add(tok)
        return result

    @staticmethod
    def _negated(tokens: list[str], index: int) -> bool:
        for back in range(index - 1, max(index - 1 - _NEGATION_WINDOW, -1), -1):
            tok = tokens[back]
            if tok in BREAKS:
                return False
            if tok in NEGATORS:
                return True
        return False

    def _fuzzy(self, tok: str) -> str | None:
        """A lexicon word within one edit (insertion, deletion, substitution) of ``tok``."""
        if not (tok.isascii() and tok.isalpha()):
            return None
        result = self._fuzzy_deleted.get(tok)
        if result is not None:
            return result
        for deleted in _deletions(tok):
            if deleted in self._fuzzy_words:
                return deleted
            candidate = self._fuzzy_deleted.get(deleted)
            if candidate is not None and len(candidate) == len(tok):
                return candidate
        return None
