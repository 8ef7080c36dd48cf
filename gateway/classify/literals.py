"""The literal text a regular expression's matches must hold, so a long prompt can be ruled
out, or its candidate positions found, with C-speed substring searches before the regex runs.

CPython's regex engine skips ahead fast only to a pattern's literal prefix. A pattern that
starts with a character class (``[1-9]\\d{1,2} ?mm``) or with a choice of words
(``(?:says|reads|spells)\\s+…``) is tried at every position whose character could begin it:
tens of microseconds on a 4,000-character tag list, for a pattern that usually finds nothing.

``Finder`` answers, once, at build time, from the pattern's parse tree (``re._parser``, the
standard library's own): what text every match holds (absent, the regex is not run), and which
literal every match holds a bounded distance from its start (the regex is tried only there).
Anything the walk does not understand gives no answer, and the regex runs as before: an answer
only ever skips work that could not have matched.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

_parser: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")
T = TypeVar("T")
_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT))


def required(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Strings one of which every match contains (the most selective such set found), or
    None when the pattern guarantees none (or ignores case)."""
    found = required_all(pattern)
    return found[0] if found else None


def required_all(pattern: re.Pattern[str]) -> tuple[tuple[str, ...], ...]:
    """Every such set the pattern's top level shows (a match holds one string of each), the
    most selective first: "(?:says|reads)\\s?:" needs a word and a colon."""
    nothing: list[tuple[str, ...]] = []
    candidates = _answer(pattern, lambda parsed: _candidates(list(parsed)), nothing)
    return tuple(sorted(dict.fromkeys(candidates), key=_selectivity, reverse=True))


def leading(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Strings one of which every match starts with, or None. None of them starts with
    another: where "reads" begins, "read" does too, and one search finds both."""
    leads = _answer(pattern, lambda parsed: _leading(list(parsed)), None)
    if leads is None:
        return None
    return tuple(s for s in leads if not any(s != t and s.startswith(t) for t in leads))


def _answer(pattern: re.Pattern[str], walk: Callable[[Any], T], unsure: T) -> T:
    """``walk`` of the pattern's parse tree; ``unsure`` when the pattern ignores case (its
    literals are not the text's) or the walk meets a tree it does not know."""
    if pattern.flags & re.IGNORECASE:
        return unsure
    try:
        return walk(_parser.parse(pattern.pattern, pattern.flags))
    except Exception:  # an engine whose parse tree we do not know: no shortcut
        return unsure


#: The sets of strings a finder checks before its regex: a third is seldom absent where two
#: were present, and each check is a scan of the prompt.
_MAX_NEEDS = 2
#: How far a literal may lie from the start of a match for a scan from it to pay: each
#: occurrence is then tried at up to this many more starts.
_MAX_SPREAD = 8


@dataclass(frozen=True, slots=True)
class Finder:
    """A pattern with what its matches must hold, for ``finditer`` on long prompts."""

    pattern: re.Pattern[str]
    #: Every match holds one string of each of these sets (most selective first).
    needs: tuple[tuple[str, ...], ...]
    #: One of these lies in every match ``least``-``most`` characters after its start (None:
    #: the regex engine scans on its own, as it does fast for a literal prefix).
    anchors: tuple[str, ...] | None
    least: int = 0
    most: int = 0

    @classmethod
    def of(cls, pattern: re.Pattern[str]) -> Finder:
        needs = required_all(pattern)[:_MAX_NEEDS]
        leads = leading(pattern)
        if leads is not None and len(leads) == 1:
            return cls(pattern, needs, None)
        if leads is not None:
            return cls(pattern, needs, leads)
        found = anchored(pattern)
        return cls(pattern, needs, None) if found is None else cls(pattern, needs, *found)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        """``pattern.finditer(text)``, the same matches, without trying the regex where the
        literals say it cannot match."""
        for strings in self.needs:
            if not any(map(text.__contains__, strings)):
                return iter(())
        if self.anchors is None or (self.most == 0 and not text.isascii()):
            # A pattern that starts with a choice of words is scanned from them in ASCII text
            # only: in mixed and CJK text the engine's own scan measured as fast or faster.
            return self.pattern.finditer(text)
        return self._from_anchors(text)

    def _from_anchors(self, text: str) -> Iterator[re.Match[str]]:
        """Only the starts an anchor allows are tried, in order, past the last match's end
        (the regex sees the whole text there, so lookbehinds and ``\\b`` behave as in
        ``finditer``)."""
        starts: set[int] = set()
        for anchor in self.anchors or ():
            at = text.find(anchor)
            while at >= 0:
                starts.update(range(max(0, at - self.most), at - self.least + 1))
                at = text.find(anchor, at + 1)
        end = 0
        match = self.pattern.match
        for at in sorted(starts):
            if at < end:
                continue
            found = match(text, at)
            if found is not None:
                end = max(found.end(), at + 1)
                yield found


def anchored(pattern: re.Pattern[str]) -> tuple[tuple[str, ...], int, int] | None:
    """Literal strings one of which every match holds at a distance from its start within
    (least, most), both at most ``_MAX_SPREAD`` apart; the longest such; or None."""
    return _answer(pattern, _anchored, None)


def _anchored(parsed: Any) -> tuple[tuple[str, ...], int, int] | None:
    items = list(parsed)
    best: tuple[tuple[str, ...], int, int] | None = None
    for index, (op, arg) in enumerate(items):
        strings: tuple[str, ...] | None = None
        if op is _c.LITERAL and (index == 0 or items[index - 1][0] is not _c.LITERAL):
            strings = _leading(items[index:])
        elif op is _c.BRANCH:
            strings = _leading([(op, arg)])
        if not strings:
            continue
        least, most = _parser.SubPattern(parsed.state, items[:index]).getwidth()
        if most - least > _MAX_SPREAD:
            continue
        if best is None or min(map(len, strings)) > min(map(len, best[0])):
            best = (strings, least, most)
    return best


def _selectivity(strings: tuple[str, ...]) -> tuple[int, int, bool]:
    """How rarely a prompt holds one of ``strings``, as a sort key: longest shortest member,
    then fewest members, then (for single characters) punctuation over letters and digits,
    which nearly every prompt holds."""
    return (min(map(len, strings)), -len(strings), not any(s.isalnum() for s in strings))


def _required(items: list[Any]) -> tuple[str, ...] | None:
    candidates = _candidates(items)
    return max(candidates, key=_selectivity) if candidates else None


def _candidates(items: list[Any]) -> list[tuple[str, ...]]:
    """The sets of strings a sequence's matches must hold, one set per literal run or
    element that guarantees one."""
    candidates: list[tuple[str, ...]] = []
    run: list[str] = []
    for op, arg in items:
        if op is _c.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            candidates.append(("".join(run),))
            run = []
        found = _required_of(op, arg)
        if found is not None:
            candidates.append(found)
    if run:
        candidates.append(("".join(run),))
    return candidates


def _any_of(alternatives: list[tuple[str, ...] | None]) -> tuple[str, ...] | None:
    """What a choice of alternatives holds: one of their strings, if every one holds some."""
    if any(alt is None for alt in alternatives):
        return None
    return tuple(dict.fromkeys(s for alt in alternatives if alt for s in alt))


def _required_of(op: Any, arg: Any) -> tuple[str, ...] | None:
    if op is _c.SUBPATTERN:
        _group, add_flags, _del_flags, body = arg
        return None if add_flags & re.IGNORECASE else _required(list(body))
    if op in _REPEATS:
        low, _high, body = arg
        return _required(list(body)) if low >= 1 else None
    if op is _c.BRANCH:
        return _any_of([_required(list(alt)) for alt in arg[1]])
    return None


def _leading(items: list[Any]) -> tuple[str, ...] | None:
    if not items:
        return None
    op, arg = items[0]
    if op is _c.LITERAL:
        run = []
        for op, arg in items:
            if op is not _c.LITERAL:
                break
            run.append(chr(arg))
        return ("".join(run),)
    if op is _c.SUBPATTERN:
        _group, add_flags, _del_flags, body = arg
        return None if add_flags & re.IGNORECASE else _leading(list(body))
    if op is _c.BRANCH:
        return _any_of([_leading(list(alt)) for alt in arg[1]])
    return None


def touches(pattern: re.Pattern[str], char: str) -> bool:
    """Whether any part of ``pattern`` (lookarounds included) could match ``char``, or
    depends on where the text begins or ends (``^``, ``$``, ``\\A``): True when unsure.

    A pattern that does not touch "," finds in a comma-separated text exactly what it finds
    in each piece alone (a lookaround or ``\\b`` sees a comma as it sees the end of a piece),
    so its matches in a tag list can be memoised by piece."""
    return _answer(pattern, lambda parsed: _touches(list(parsed), char), True)


_SAFE_AT = (_c.AT_BOUNDARY, _c.AT_NON_BOUNDARY)
_CATEGORIES = {
    _c.CATEGORY_DIGIT: re.compile(r"\d"),
    _c.CATEGORY_NOT_DIGIT: re.compile(r"\D"),
    _c.CATEGORY_SPACE: re.compile(r"\s"),
    _c.CATEGORY_NOT_SPACE: re.compile(r"\S"),
    _c.CATEGORY_WORD: re.compile(r"\w"),
    _c.CATEGORY_NOT_WORD: re.compile(r"\W"),
}


def _touches(items: list[Any], char: str) -> bool:
    code = ord(char)
    for op, arg in items:
        if op is _c.LITERAL:
            touched = arg == code
        elif op is _c.NOT_LITERAL:
            touched = arg != code
        elif op is _c.ANY:
            touched = char != "\n"
        elif op is _c.IN:
            touched = _in_set(arg, char)
        elif op is _c.CATEGORY:
            touched = _in_category(arg, char)
        elif op is _c.AT:
            touched = arg not in _SAFE_AT
        elif op is _c.SUBPATTERN:
            touched = bool(arg[1] & re.IGNORECASE) or _touches(list(arg[3]), char)
        elif op in _REPEATS:
            touched = _touches(list(arg[2]), char)
        elif op is _c.BRANCH:
            touched = any(_touches(list(alt), char) for alt in arg[1])
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            touched = _touches(list(arg[1]), char)
        else:  # back-references, conditionals, atomic groups…: unsure
            touched = True
        if touched:
            return True
    return False


def _in_set(items: list[Any], char: str) -> bool:
    negated = found = False
    for op, arg in items:
        if op is _c.NEGATE:
            negated = True
        elif op is _c.LITERAL:
            found = found or arg == ord(char)
        elif op is _c.RANGE:
            found = found or arg[0] <= ord(char) <= arg[1]
        elif op is _c.CATEGORY:
            found = found or _in_category(arg, char)
        else:
            return True
    return found != negated


def _in_category(category: Any, char: str) -> bool:
    regex = _CATEGORIES.get(category)
    return regex is None or regex.fullmatch(char) is not None
