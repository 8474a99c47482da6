"""Text preparation ("spacing") exactly as MetaCLIP defines it (SPEC section 2).

The fast matcher never materialises the spaced text; this module is the readable definition used
by ``explain`` and as the single source of the character sets the kernel mirrors.
"""

import re

# Characters that get a space on each side before matching.
WRAPPED = ",.;:?!`"
# Characters that become one space each.
TO_SPACE = "\t\n\r"

_TABLE = str.maketrans({**{c: f" {c} " for c in WRAPPED}, **{c: " " for c in TO_SPACE}})
_SPECIAL = re.compile(f"[{re.escape(WRAPPED + TO_SPACE)}]")


def spaced(text: str) -> str:
    """Return the prepared text: padded with one space each side, punctuation wrapped."""
    return f" {text.translate(_TABLE)} "


def unmatchable_reason(entry: str) -> str | None:
    """Why ``entry`` can never occur as `` entry `` in a spaced text, or None if it can.

    In a spaced text every wrapped character stands alone between two spaces and no tab, newline
    or carriage return survives, so an entry whose space-separated tokens break that shape can
    never match.
    """
    if not _SPECIAL.search(entry):  # the common case, checked once at C speed
        return None
    if any(c in entry for c in TO_SPACE):
        return "contains a tab, newline or carriage return"
    for token in entry.split(" "):
        if len(token) > 1 and any(c in token for c in WRAPPED):
            return f"punctuation {WRAPPED!r} not separated by spaces in token {token!r}"
    return None
