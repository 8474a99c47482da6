"""Plain reference implementation of SPEC section 2, for tests only (never imported by the product).

Written straight from the spec's wording, sharing no code with ``metacurate``.
"""

PUNCTS_TO_WRAP = [",", ".", ";", ":", "?", "!", "`"]
CHARS_TO_SPACE = ["\t", "\n", "\r"]


def reference_spacing(text: str) -> str:
    spaced = f" {text} "
    for punct in PUNCTS_TO_WRAP:
        spaced = spaced.replace(punct, f" {punct} ")
    for char in CHARS_TO_SPACE:
        spaced = spaced.replace(char, " ")
    return spaced


def reference_match(text: str | None, entries: list[str]) -> list[int]:
    """Sorted ids of the entries e for which ' e ' occurs in the spaced text."""
    if text is None:
        return []
    spaced = reference_spacing(text)
    return [i for i, entry in enumerate(entries) if f" {entry} " in spaced]
