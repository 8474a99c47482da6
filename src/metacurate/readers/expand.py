"""What a user typed -> the files a run reads, in order: brace ranges as webdataset and
open_clip users write them (``pool/{00000..00999}.parquet``), local glob patterns, and
``*.paths`` / ``*.paths.gz`` listings (CommonCrawl's, relative to its HTTPS front end)."""

import glob
import gzip
import os
import re
import zlib

from metacurate.errors import InputError
from metacurate.readers.sources import file_name, is_remote, one_line, open_input

COMMONCRAWL = "https://data.commoncrawl.org/"
LISTING_SUFFIXES = (".paths", ".paths.gz")
GLOB_CHARS = re.compile(r"[*?\[]")
NUMBER_RANGE = re.compile(r"(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?")
LETTER_RANGE = re.compile(r"([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?\d+))?")


def expand_inputs(specs: list[str], paths_base: str = COMMONCRAWL) -> list[str]:
    """The files that ``specs`` name, in order: each spec's brace expressions are expanded,
    then local glob patterns (sorted), then ``*.paths`` / ``*.paths.gz`` listings are replaced
    by their lines (relative ones joined to ``paths_base``). URLs and plain paths pass through
    unchanged (planning reports a missing file)."""
    files: list[str] = []
    for spec in specs:
        for pattern in _braces_of(spec):
            for path in _glob(pattern):
                if file_name(path).lower().endswith(LISTING_SUFFIXES):
                    files.extend(_listing(path, paths_base))
                else:
                    files.append(path)
    return files


def _braces_of(spec: str) -> list[str]:
    """A local file whose name holds braces is that file, not a pattern."""
    if not is_remote(spec) and os.path.lexists(spec):
        return [spec]
    return expand_braces(spec)


def expand_braces(pattern: str) -> list[str]:
    """Every string a brace pattern stands for, in order, as the shell, webdataset and
    open_clip expand them: ``{00000..00999}`` numeric ranges (zero-padded when an end is,
    optional step ``{0..10..2}``), letter ranges ``{a..e}`` and ``{a,b}`` alternatives, nested
    and adjacent. Braces with neither a range nor a comma (``{x}``), or unmatched, are kept as
    written. Our own ~20 lines rather than the ``braceexpand`` package: a dependency for this
    little is more to install and audit than to read."""
    for start, end in _brace_pairs(pattern):
        options = _options(pattern[start + 1 : end])
        if options is not None:
            head, tails = pattern[:start], expand_braces(pattern[end + 1 :])
            return [
                head + o + t for option in options for o in expand_braces(option) for t in tails
            ]
    return [pattern]


def _brace_pairs(text: str) -> list[tuple[int, int]]:
    """(opening, closing) positions of the balanced brace pairs, by opening position."""
    opened: list[int] = []
    pairs = []
    for i, char in enumerate(text):
        if char == "{":
            opened.append(i)
        elif char == "}" and opened:
            pairs.append((opened.pop(), i))
    return sorted(pairs)


def _options(body: str) -> list[str] | None:
    """What a brace body expands to: its comma-separated alternatives or its range; None when
    it is neither (the braces are literal)."""
    alternatives, depth, start = [], 0, 0
    for i, char in enumerate(body):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            alternatives.append(body[start:i])
            start = i + 1
    if alternatives:
        return [*alternatives, body[start:]]
    if found := NUMBER_RANGE.fullmatch(body):
        first, last, step = found.groups()
        padded = any(len(n.lstrip("-")) > 1 and n.lstrip("-")[0] == "0" for n in (first, last))
        width = max(len(first), len(last)) if padded else 0
        return [f"{n:0{width}d}" for n in _steps(int(first), int(last), step)]
    if found := LETTER_RANGE.fullmatch(body):
        first, last, step = found.groups()
        return [chr(n) for n in _steps(ord(first), ord(last), step)]
    return None


def _steps(first: int, last: int, step: str | None) -> range:
    size = abs(int(step or 1)) or 1
    return range(first, last + 1, size) if first <= last else range(first, last - 1, -size)


def _glob(pattern: str) -> list[str]:
    """A local glob pattern's files, sorted (an error when there is none); anything else as
    it is."""
    if is_remote(pattern):
        if "*" in pattern:
            raise InputError(
                f"{pattern}: wildcards are not expanded in URLs; name the files with a brace"
                " range ({00000..00099}) or a .paths listing"
            )
        return [pattern]
    if not GLOB_CHARS.search(pattern) or os.path.lexists(pattern):
        return [pattern]
    found = sorted(glob.glob(pattern, recursive=True))
    if not found:
        raise InputError(f"{pattern}: no file matches this pattern")
    return found


def _listing(path: str, paths_base: str) -> list[str]:
    """The paths a ``.paths`` (or ``.paths.gz``) file lists, one a line, blank lines left out;
    a relative one is joined to ``paths_base`` (CommonCrawl's listings are relative to
    https://data.commoncrawl.org/)."""
    try:
        with open_input(path) as f:
            data = f.read()
        if file_name(path).lower().endswith(".gz"):  # a URL's query is not its name
            data = gzip.decompress(data)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable listing of paths ({one_line(err)})") from None
    paths = [_joined(paths_base, line) for line in map(str.strip, text.splitlines()) if line]
    if not paths:
        raise InputError(f"{path}: the listing names no file")
    return paths


def _joined(base: str, path: str) -> str:
    if is_remote(path) or os.path.isabs(path):
        return path
    if is_remote(base):
        return f"{base.rstrip('/')}/{path}"
    return os.path.join(base, path)
