"""Article text to words: wikitext markup stripped with mwparserfromhell, then tokens and
adjacent-word pairs counted (SPEC 3).

Tokens are maximal runs of word characters (Unicode ``\\w``: letters, digits, ``_``) that may
be joined by an inner apostrophe or hyphen (``don't``, ``COVID-19``), kept as written (cased).
Such a token never holds a space or one of the characters the matcher wraps in spaces, so each
one can match as an entry. A bigram is two tokens separated only by spaces or tabs; tokens
with punctuation or a line break between them ("cat. The", a heading and the next line) are
not a pair, so every bigram entry ``"w1 w2"`` occurs, as written, in the text it came from.
"""

import re
from collections import Counter
from collections.abc import Iterable

from metacurate.errors import import_extra

# Links to these namespaces are markup, not prose: an image's "thumb|left|..." options and the
# page's category list would otherwise be counted as words.
_SKIPPED_LINKS = ("file:", "image:", "media:", "category:")
_TOKEN = r"\w+(?:['’\-]\w+)*"
# A run of tokens joined by spaces or tabs only: the stretch of text in which adjacent tokens
# form bigrams.
_PHRASE = re.compile(rf"{_TOKEN}(?:[ \t]+{_TOKEN})*")
_GAP = re.compile(r"[ \t]+")


def plain_text(wikitext: str) -> str:
    """The readable text of an article: templates, references, comments, tables' markup and
    file/category links removed; link texts and formatted text kept."""
    mwparserfromhell = import_extra("mwparserfromhell", "wikipedia", "reading wikitext")
    code = mwparserfromhell.parse(wikitext)
    for link in code.ifilter_wikilinks(recursive=True):
        if str(link.title).lstrip().lower().startswith(_SKIPPED_LINKS):
            # Emptied in place: Wikicode.remove() searches the whole tree for each node.
            link.title = ""
            link.text = None
    return code.strip_code(normalize=True, collapse=True)


def count_words(texts: Iterable[str]) -> tuple[Counter, Counter]:
    """(token counts, bigram counts keyed ``"w1 w2"``) over plain texts."""
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    for text in texts:
        for phrase in _PHRASE.findall(text):
            tokens = _GAP.split(phrase)
            unigrams.update(tokens)
            if len(tokens) > 1:
                bigrams.update(map(" ".join, zip(tokens, tokens[1:], strict=False)))
    return unigrams, bigrams
