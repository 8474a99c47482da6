"""WordNet part of the metadata: "0".."99", then one name per synset (SPEC 3).

The name is MetaCLIP's rule applied to NLTK's synset name: first lemma of the synset with its
adjective marker ``(a)``/``(p)``/``(ip)`` removed, lower-cased, cut at its first ``.``,
``_`` -> space. For WordNet 3.0 this gives exactly 86,654 entries (the paper's Table 1 row).
"""

import re
from collections.abc import Iterator
from pathlib import Path

from metacurate.errors import InputError
from metacurate.metadata_builder.entries import is_single_punctuation

# Order of NLTK's WordNetCorpusReader._FILEMAP ({ADJ: "adj", ADV: "adv", NOUN: "noun",
# VERB: "verb"}), which is the order wn.all_synsets() walks when no pos is given.
WORDNET_FILES = ("adj", "adv", "noun", "verb")
WORDNET_3_0_ENTRIES = 86_654
NUMBER_PREFIX = tuple(str(i) for i in range(100))
# NLTK: m = re.match(r"(.*?)(\(.*\))?$", lemma_name); lemma_name, syn_mark = m.groups()
_SYNTACTIC_MARKER = re.compile(r"(.*?)(\(.*\))?$")


def data_files(wordnet_dir: str | Path) -> list[Path]:
    """The four ``data.<pos>`` files of a WordNet dict folder; a clear error if one is missing."""
    folder = Path(wordnet_dir)
    if not folder.is_dir():
        raise InputError(f"{folder}: WordNet folder not found (a WordNet 3.x 'dict' folder)")
    paths = [folder / f"data.{pos}" for pos in WORDNET_FILES]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise InputError(
            f"{folder}: not a WordNet dict folder, missing {', '.join(missing)}"
            f" (needs {', '.join('data.' + p for p in WORDNET_FILES)})"
        )
    return paths


def synset_names(wordnet_dir: str | Path) -> Iterator[str]:
    """One name per synset line of the data files, in NLTK's all_synsets() order; can be
    empty (".22_caliber")."""
    for path in data_files(wordnet_dir):
        # Read as bytes and decode line by line, so that a file that is not text (compressed,
        # say) is reported with the line where it stops being text.
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise InputError(
                        f"{path}:{number}: not a WordNet data file (byte"
                        f" {raw[err.start]:#04x} is not UTF-8 text)"
                    ) from None
                # Licence header lines start with two spaces; NLTK skips any line whose first
                # character is whitespace.
                if not line or line[0].isspace():
                    continue
                # synset_offset lex_filenum ss_type w_cnt word lex_id ...
                fields = line.split(" ", 5)
                if len(fields) < 6:
                    raise InputError(f"{path}:{number}: not a WordNet synset line")
                lemma = _SYNTACTIC_MARKER.match(fields[4]).group(1)
                yield lemma.lower().split(".", 1)[0].replace("_", " ")


def wordnet_names(wordnet_dir: str | Path) -> list[str]:
    """ "0".."99" then the synset names: first occurrences, no empty names, no single
    punctuation characters."""
    names = list(NUMBER_PREFIX)
    seen = set(names)
    for name in synset_names(wordnet_dir):
        if name and not is_single_punctuation(name) and name not in seen:
            seen.add(name)
            names.append(name)
    return names


def bundled_wordnet_names() -> list[str]:
    """The WordNet 3.0 part shipped inside the built-in default, so no WordNet install is needed."""
    from metacurate.metadata import default_metadata

    meta = default_metadata()
    (part,) = [s for s in meta.sources if s.name == "wordnet"]
    return meta.entries[part.start : part.stop]
