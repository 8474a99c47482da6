"""A compiled scan of WAT JSON payloads that finds image links without building the document.

orjson turns a whole WAT payload into Python objects (1.2M link dicts per 240 MB of WAT, of which
only one in six is an image) and the reader then walks them in Python. This scan validates each
payload as strictly as orjson does and records only byte spans: the page's ``Status``,
``Head.Base`` and ``WARC-Target-URI``, and per image link the spans of ``url``, ``alt``,
``title`` and ``data-image-title``. Python decodes just the spans it needs.

Exactness: the scan accepts a payload only when orjson would accept it with the same values,
and reports ``SLOW`` for anything it does not fully check (lone surrogate escapes, which orjson
refuses and the reader's fallback parser accepts; duplicate keys on the path to the links or in
a link, where the last one wins; escaped keys or ``path`` values there; invalid UTF-8; numbers
orjson might read differently; nesting past ``MAX_DEPTH``). The reader parses those pages the
old way, so every payload ends up read as orjson/json read it.

It also prepares the row work, exactly: per page, a text that repeats an earlier (src, text)
pair of raw bytes is a duplicate the reader would drop (equal raw JSON decodes to equal strings),
and an image whose src is a plain absolute, ``//host`` or ``/path`` URL that resolves to itself
(or the page origin + itself) with no text left needs no Python at all.
"""

import numba as nb
import numpy as np

JIT = {"nogil": True, "cache": True}

# Page codes.
SLOW = 0  # parse this payload the old way
NO_LINKS = 1  # valid JSON without an HTML-Metadata.Links list: not a page with images
LINKS = 2

# Value kinds of a captured span.
NONE = 0
STR = 1  # string without escapes: the span (inside the quotes) is its UTF-8
ESC = 2  # string with escapes: orjson.loads of the quoted span decodes it
INT = 3
BOOL = 4
NULL = 5
FLOAT = 6
CONTAINER = 7

# Page slots; per image: src, alt, title, data-image-title.
STATUS, BASE, URI = 0, 1, 2

# src classes (computed on the raw bytes; the reader decides per page whether to trust them).
OTHER = 0
ABSOLUTE = 1  # verbatim "http(s)://host...": resolves to itself
NETWORK = 2  # verbatim "//host...": the base scheme + ":" + src
ORIGIN = 3  # verbatim "/path" without "/.": the base origin + src

MAX_DEPTH = 128
MAX_NUMBER = 15  # longer numbers may become floats or infinity in orjson: take the slow path
MAX_TEXT_CHARS = 4096  # readers/webpage.py: longer texts are rejected per occurrence

# Roles of containers on the way to the links.
_OTHER, _ROOT, _ENV, _PM, _HRM, _HTML, _LINKS, _LINK, _HEAD, _RM, _WHM = range(11)
# (parent role, key, child role, slot): slot >= 0 captures a page field (0-2) or a link
# field (3 = path, 4-7 = url, alt, title, data-image-title).
_KEYS = (
    (_ROOT, b"Envelope", _ENV, -1),
    (_ENV, b"Payload-Metadata", _PM, -1),
    (_ENV, b"WARC-Header-Metadata", _WHM, -1),
    (_PM, b"HTTP-Response-Metadata", _HRM, -1),
    (_HRM, b"HTML-Metadata", _HTML, -1),
    (_HRM, b"Response-Message", _RM, -1),
    (_HTML, b"Links", _LINKS, -1),
    (_HTML, b"Head", _HEAD, -1),
    (_LINK, b"path", _OTHER, 3),
    (_LINK, b"url", _OTHER, 4),
    (_LINK, b"alt", _OTHER, 5),
    (_LINK, b"title", _OTHER, 6),
    (_LINK, b"data-image-title", _OTHER, 7),
    (_HEAD, b"Base", _OTHER, BASE),
    (_RM, b"Status", _OTHER, STATUS),
    (_WHM, b"WARC-Target-URI", _OTHER, URI),
)
_KEY_BYTES = np.frombuffer(b"".join(k[1] for k in _KEYS), np.uint8)
_KEY_END = np.cumsum([len(k[1]) for k in _KEYS]).astype(np.int64)
_KEY_START = _KEY_END - np.array([len(k[1]) for k in _KEYS], np.int64)
_KEY_PARENT = np.array([k[0] for k in _KEYS], np.int64)
_KEY_CHILD = np.array([k[2] for k in _KEYS], np.int64)
_KEY_SLOT = np.array([k[3] for k in _KEYS], np.int64)
assert (np.diff(_KEY_PARENT) >= 0).all()  # grouped by role, for _ROLE_KEYS
_ROLE_KEYS = np.searchsorted(_KEY_PARENT, np.arange(12)).astype(np.int64)
_OBJECT_ROLES = np.array([0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1], np.uint8)
_IMAGE_PATH = np.frombuffer(b"IMG@/src", np.uint8)


@nb.njit(inline="always", **JIT)
def _is_ws(c):
    return c == 32 or c == 10 or c == 13 or c == 9


@nb.njit(inline="always", **JIT)
def _cont(buf, i, end, lo, hi):
    return i < end and lo <= buf[i] <= hi


@nb.njit(**JIT)
def _hex4(buf, i, end):
    if i + 4 > end:
        return -1
    v = 0
    for j in range(i, i + 4):
        c = buf[j]
        if 48 <= c <= 57:
            d = c - 48
        elif 97 <= c <= 102:
            d = c - 87
        elif 65 <= c <= 70:
            d = c - 55
        else:
            return -1
        v = v * 16 + d
    return v


_ONES = np.uint64(0x0101010101010101)
_HIGHS = np.uint64(0x8080808080808080)
_SPACES = np.uint64(0x2020202020202020)
_QUOTES = np.uint64(0x2222222222222222)
_BACKSLASHES = np.uint64(0x5C5C5C5C5C5C5C5C)


# Byte classes inside a string: the common one (printable ASCII) costs one load and one test.
_PLAIN, _QUOTE, _BACKSLASH, _BAD, _LEAD2, _LEAD3, _LEAD4 = range(7)
_STRING_BYTES = np.zeros(256, np.uint8)
_STRING_BYTES[:0x20] = _BAD
_STRING_BYTES[0x22] = _QUOTE
_STRING_BYTES[0x5C] = _BACKSLASH
_STRING_BYTES[0x80:] = _BAD
_STRING_BYTES[0xC2:0xE0] = _LEAD2
_STRING_BYTES[0xE0:0xF0] = _LEAD3
_STRING_BYTES[0xF0:0xF5] = _LEAD4


@nb.njit(**JIT)
def _escape(buf, i, end):
    """Index after the escape at buf[i] (a backslash), or -1 if orjson refuses it or we would
    read it differently (lone surrogates)."""
    if i + 1 >= end:
        return -1
    c = buf[i + 1]
    if c == 34 or c == 92 or c == 47 or c == 98 or c == 102 or c == 110 or c == 114 or c == 116:
        return i + 2
    if c != 117:
        return -1
    cp = _hex4(buf, i + 2, end)
    if cp < 0 or 0xDC00 <= cp <= 0xDFFF:
        return -1
    i += 6
    if 0xD800 <= cp <= 0xDBFF:
        if i + 1 >= end or buf[i] != 92 or buf[i + 1] != 117:
            return -1
        low = _hex4(buf, i + 2, end)
        if not 0xDC00 <= low <= 0xDFFF:
            return -1
        i += 6
    return i


@nb.njit(**JIT)
def _string(buf, i, end):
    """(index of the closing quote, has escapes) of the string whose body starts at ``i``;
    index -1 when orjson would refuse it (control bytes, invalid UTF-8, bad escapes) or read
    it differently from us (lone surrogates)."""
    esc = False
    while i < end:
        t = _STRING_BYTES[buf[i]]
        if t == _PLAIN:
            i += 1
        elif t == _QUOTE:
            return i, esc
        elif t == _BACKSLASH:
            esc = True
            i = _escape(buf, i, end)
            if i < 0:
                return -1, esc
        elif t == _LEAD2:
            if not _cont(buf, i + 1, end, 0x80, 0xBF):
                return -1, esc
            i += 2
        elif t == _LEAD3:
            c = buf[i]
            lo = 0xA0 if c == 0xE0 else 0x80
            hi = 0x9F if c == 0xED else 0xBF  # no UTF-8 encoded surrogates
            if not (_cont(buf, i + 1, end, lo, hi) and _cont(buf, i + 2, end, 0x80, 0xBF)):
                return -1, esc
            i += 3
        elif t == _LEAD4:
            c = buf[i]
            lo = 0x90 if c == 0xF0 else 0x80
            hi = 0x8F if c == 0xF4 else 0xBF  # nothing past U+10FFFF
            if not (
                _cont(buf, i + 1, end, lo, hi)
                and _cont(buf, i + 2, end, 0x80, 0xBF)
                and _cont(buf, i + 3, end, 0x80, 0xBF)
            ):
                return -1, esc
            i += 4
        else:
            return -1, esc
    return -1, esc


@nb.njit(**JIT)
def _digits(buf, i, end):
    j = i
    while j < end and 48 <= buf[j] <= 57:
        j += 1
    return j


@nb.njit(**JIT)
def _number(buf, i, end):
    """(end, INT or FLOAT) of the JSON number at ``i``; end -1 if malformed or unusual."""
    start = i
    if i < end and buf[i] == 45:
        i += 1
    if i >= end:
        return -1, INT
    if buf[i] == 48:
        i += 1
    elif 49 <= buf[i] <= 57:
        i = _digits(buf, i, end)
    else:
        return -1, INT
    kind = INT
    if i < end and buf[i] == 46:
        j = _digits(buf, i + 1, end)
        if j == i + 1:
            return -1, INT
        i, kind = j, FLOAT
    if i < end and (buf[i] == 101 or buf[i] == 69):
        i += 1
        if i < end and (buf[i] == 43 or buf[i] == 45):
            i += 1
        j = _digits(buf, i, end)
        if j == i or j - i > 2:
            return -1, INT
        i, kind = j, FLOAT
    if i - start > MAX_NUMBER:
        return -1, INT
    return i, kind


@nb.njit(**JIT)
def _literal(buf, i, end, word):
    n = word.shape[0]
    if i + n > end:
        return False
    for j in range(n):  # noqa: SIM110 (numba compiles no generator expressions)
        if buf[i + j] != word[j]:
            return False
    return True


@nb.njit(**JIT)
def _key(buf, s, e, role):
    """Index into _KEYS of the key buf[s:e] of an object with this role, or -1."""
    for k in range(_ROLE_KEYS[role], _ROLE_KEYS[role + 1]):
        ks, ke = _KEY_START[k], _KEY_END[k]
        if ke - ks != e - s:
            continue
        same = True
        for j in range(e - s):
            if buf[s + j] != _KEY_BYTES[ks + j]:
                same = False
                break
        if same:
            return k
    return -1


_TRUE = np.frombuffer(b"true", np.uint8)
_FALSE = np.frombuffer(b"false", np.uint8)
_NULL = np.frombuffer(b"null", np.uint8)


@nb.njit(**JIT)
def _parse_page(buf, start, end, page_s, page_e, page_k, img_s, img_e, img_k, m, cap):
    """Scan one payload; fills the page's slots and appends its images at ``m``.
    Returns (code, new m)."""
    obj = np.zeros(MAX_DEPTH, np.uint8)
    role = np.zeros(MAX_DEPTH, np.int64)
    seen = np.zeros(MAX_DEPTH, np.int64)
    link_s = np.zeros(5, np.int64)
    link_e = np.zeros(5, np.int64)
    link_k = np.zeros(5, np.int64)
    links = False
    depth = 0
    i = start
    value_role = _ROOT
    slot = -1
    while True:
        # --- a value at i ---
        while i < end and _is_ws(buf[i]):
            i += 1
        if i >= end:
            return SLOW, m
        c = buf[i]
        if c == 123 or c == 91:  # { or [
            if depth >= MAX_DEPTH:
                return SLOW, m
            is_obj = c == 123
            r = value_role if _OBJECT_ROLES[value_role] == is_obj else _OTHER
            if slot >= 3:
                link_k[slot - 3] = CONTAINER
            elif slot >= 0:
                page_k[slot] = CONTAINER
            obj[depth] = is_obj
            role[depth] = r
            seen[depth] = 0
            depth += 1
            if r == _LINKS:
                links = True
            if r == _LINK:
                link_k[:] = NONE
            i += 1
            while i < end and _is_ws(buf[i]):
                i += 1
            if i >= end:
                return SLOW, m
            close = 125 if is_obj else 93
            if buf[i] == close:
                i += 1
                depth -= 1  # empty: go on after the value (an empty link is no image)
            elif is_obj:
                # --- a key ---
                if buf[i] != 34:
                    return SLOW, m
                ke, esc = _string(buf, i + 1, end)
                if ke < 0:
                    return SLOW, m
                k = -1
                if r != _OTHER:
                    if esc:
                        return SLOW, m
                    k = _key(buf, i + 1, ke, r)
                    if k >= 0:
                        bit = 1 << k
                        if seen[depth - 1] & bit:
                            return SLOW, m
                        seen[depth - 1] |= bit
                i = ke + 1
                while i < end and _is_ws(buf[i]):
                    i += 1
                if i >= end or buf[i] != 58:
                    return SLOW, m
                i += 1
                value_role = _KEY_CHILD[k] if k >= 0 else _OTHER
                slot = _KEY_SLOT[k] if k >= 0 else -1
                continue
            else:
                value_role = _LINK if r == _LINKS else _OTHER
                slot = -1
                continue
        else:
            kind = NONE
            if c == 34:
                ve, esc = _string(buf, i + 1, end)
                if ve < 0:
                    return SLOW, m
                vs, kind = i + 1, ESC if esc else STR
                i = ve + 1
            elif c == 45 or 48 <= c <= 57:
                vs = i
                i, kind = _number(buf, i, end)
                if i < 0:
                    return SLOW, m
                ve = i
            elif c == 116 and _literal(buf, i, end, _TRUE):
                vs, ve, kind = i, i + 4, BOOL
                i += 4
            elif c == 102 and _literal(buf, i, end, _FALSE):
                vs, ve, kind = i, i + 5, BOOL
                i += 5
            elif c == 110 and _literal(buf, i, end, _NULL):
                vs, ve, kind = i, i + 4, NULL
                i += 4
            else:
                return SLOW, m
            if slot >= 3:
                link_s[slot - 3], link_e[slot - 3], link_k[slot - 3] = vs, ve, kind
            elif slot >= 0:
                page_s[slot], page_e[slot], page_k[slot] = vs, ve, kind
        # --- after a value: commas and closing brackets ---
        while True:
            if depth == 0:
                while i < end and _is_ws(buf[i]):
                    i += 1
                return (SLOW if i != end else (LINKS if links else NO_LINKS)), m
            while i < end and _is_ws(buf[i]):
                i += 1
            if i >= end:
                return SLOW, m
            c = buf[i]
            top = depth - 1
            if c == 44:  # ,
                i += 1
                if obj[top]:
                    while i < end and _is_ws(buf[i]):
                        i += 1
                    if i >= end or buf[i] != 34:
                        return SLOW, m
                    r = role[top]
                    ke, esc = _string(buf, i + 1, end)
                    if ke < 0:
                        return SLOW, m
                    k = -1
                    if r != _OTHER:
                        if esc:
                            return SLOW, m
                        k = _key(buf, i + 1, ke, r)
                        if k >= 0:
                            bit = 1 << k
                            if seen[top] & bit:
                                return SLOW, m
                            seen[top] |= bit
                    i = ke + 1
                    while i < end and _is_ws(buf[i]):
                        i += 1
                    if i >= end or buf[i] != 58:
                        return SLOW, m
                    i += 1
                    value_role = _KEY_CHILD[k] if k >= 0 else _OTHER
                    slot = _KEY_SLOT[k] if k >= 0 else -1
                else:
                    value_role = _LINK if role[top] == _LINKS else _OTHER
                    slot = -1
                break  # parse the next value
            if c != (125 if obj[top] else 93):
                return SLOW, m
            i += 1
            depth -= 1
            if role[depth] == _LINK:
                # an image link: a plain string path starting with IMG@/src
                if link_k[0] == ESC:
                    return SLOW, m
                if link_k[0] == STR and link_e[0] - link_s[0] >= 8:
                    image = True
                    for j in range(8):
                        if buf[link_s[0] + j] != _IMAGE_PATH[j]:
                            image = False
                            break
                    if image:
                        if m >= cap:
                            return SLOW, m  # the caller grows the arrays and scans again
                        for f in range(4):
                            img_s[m, f] = link_s[f + 1]
                            img_e[m, f] = link_e[f + 1]
                            img_k[m, f] = link_k[f + 1]
                        m += 1
            # and continue closing / separating at this level
        # the loop above only exits by break (next value) or return


@nb.njit(**JIT)
def scan(buf, starts):
    """Scan the payloads buf[starts[p]:starts[p + 1]].

    Returns per page (code, field starts/ends/kinds [p, 3], first image [p + 1]) and per image
    (starts/ends/kinds [m, 4] of src/alt/title/data-image-title, src class, bitmask of the texts
    to keep: non-empty and not a raw-byte repeat of an earlier (src, text) of the page).
    """
    n = starts.shape[0] - 1
    code = np.zeros(n, np.uint8)
    page_s = np.zeros((n, 3), np.int64)
    page_e = np.zeros((n, 3), np.int64)
    page_k = np.zeros((n, 3), np.uint8)
    first = np.zeros(n + 1, np.int64)
    cap = 1024
    img_s = np.zeros((cap, 4), np.int64)
    img_e = np.zeros((cap, 4), np.int64)
    img_k = np.zeros((cap, 4), np.uint8)
    m = 0
    for p in range(n):
        first[p] = m
        while True:
            c, m2 = _parse_page(
                buf,
                starts[p],
                starts[p + 1],
                page_s[p],
                page_e[p],
                page_k[p],
                img_s,
                img_e,
                img_k,
                m,
                cap,
            )
            if m2 < cap:
                break
            cap *= 2  # the page may have more images than fit: grow and scan it again
            img_s = _grow(img_s, cap)
            img_e = _grow(img_e, cap)
            img_k = _grow(img_k, cap)
        code[p] = c
        m = m2 if c == LINKS else m  # a slow page's partial images are dropped
    first[n] = m
    cls = np.zeros(m, np.uint8)
    keep = np.zeros(m, np.uint8)
    for p in range(n):
        _prepare(buf, img_s, img_e, img_k, first[p], first[p + 1], cls, keep)
    return code, page_s, page_e, page_k, first, img_s[:m], img_e[:m], img_k[:m], cls, keep


@nb.njit(**JIT)
def _grow(a, cap):
    b = np.zeros((cap, a.shape[1]), a.dtype)
    b[: a.shape[0]] = a
    return b


@nb.njit(**JIT)
def _src_class(buf, s, e):
    """The class of a plain string src buf[s:e] (see webpage.Resolver.join's shortcuts)."""
    while s < e and buf[s] == 32:
        s += 1
    while e > s and buf[e - 1] == 32:
        e -= 1
    n = e - s
    if n == 0:
        return OTHER
    last = buf[e - 1]
    if last == 63 or last == 35:  # ? #
        return OTHER
    has_dot_segment = False
    for j in range(s, e):
        c = buf[j]
        if c >= 0x80 or c == 91 or c == 93 or c == 59:  # non-ASCII [ ] ;
            return OTHER
        if j + 1 < e:
            d = buf[j + 1]
            if c == 63 and d == 35:  # ?#
                return OTHER
            if c == 47 and d == 47 and j + 2 < e and buf[j + 2] == 47:  # ///
                return OTHER
            if c == 47 and d == 46:  # /.
                has_dot_segment = True
    if n > 7 and buf[s] == 104 and buf[s + 1] == 116 and buf[s + 2] == 116 and buf[s + 3] == 112:
        h = -1
        if buf[s + 4] == 58 and buf[s + 5] == 47 and buf[s + 6] == 47:  # http://
            h = s + 7
        elif n > 8 and buf[s + 4] == 115 and buf[s + 5] == 58 and buf[s + 6] == buf[s + 7] == 47:
            h = s + 8  # https://
        if h >= 0:
            if h < e and buf[h] != 47 and buf[h] != 63 and buf[h] != 35:
                return ABSOLUTE
            return OTHER
    if buf[s] == 47:
        if n > 1 and buf[s + 1] == 47:
            if n > 2 and buf[s + 2] != 47 and buf[s + 2] != 63 and buf[s + 2] != 35:
                return NETWORK
            return OTHER
        if not has_dot_segment:
            return ORIGIN
    return OTHER


@nb.njit(**JIT)
def _fnv(buf, s, e, h):
    for j in range(s, e):
        h = (h ^ np.uint64(buf[j])) * np.uint64(0x100000001B3)
    return h


@nb.njit(**JIT)
def _same(buf, s1, e1, s2, e2):
    if e1 - s1 != e2 - s2:
        return False
    for j in range(e1 - s1):  # noqa: SIM110 (numba compiles no generator expressions)
        if buf[s1 + j] != buf[s2 + j]:
            return False
    return True


@nb.njit(**JIT)
def _prepare(buf, img_s, img_e, img_k, a, b, cls, keep):
    """Src classes and the texts to keep for the images a..b of one page."""
    if b == a:
        return
    size = 8
    while size < 6 * (b - a):
        size *= 2
    table_img = np.full(size, -1, np.int64)
    table_ts = np.zeros(size, np.int64)
    table_te = np.zeros(size, np.int64)
    for x in range(a, b):
        sk = img_k[x, 0]
        if sk == STR:
            cls[x] = _src_class(buf, img_s[x, 0], img_e[x, 0])
        is_str = sk == STR or sk == ESC  # noqa: SIM109 (kept as numba compiles it best)
        if not is_str:  # no src: spans are stale, compare as empty
            img_s[x, 0] = img_e[x, 0] = 0
        hs = _fnv(buf, img_s[x, 0], img_e[x, 0], np.uint64(0xCBF29CE484222325 + is_str))
        for t in range(1, 4):
            tk = img_k[x, t]
            if tk != STR and tk != ESC:
                continue
            ts, te = img_s[x, t], img_e[x, t]
            while ts < te and buf[ts] == 32:
                ts += 1
            while te > ts and buf[te - 1] == 32:
                te -= 1
            if ts == te:
                continue  # normalises to "": never a row
            if te - ts > MAX_TEXT_CHARS:
                keep[x] |= 1 << (t - 1)  # may be too long: rejected once per occurrence
                continue
            h = _fnv(buf, ts, te, hs ^ np.uint64(te - ts))
            slot = np.int64(h & np.uint64(size - 1))
            dup = False
            while table_img[slot] >= 0:
                y = table_img[slot]
                if (
                    _same(buf, table_ts[slot], table_te[slot], ts, te)
                    and (img_k[y, 0] == STR or img_k[y, 0] == ESC) == is_str
                    and _same(buf, img_s[y, 0], img_e[y, 0], img_s[x, 0], img_e[x, 0])
                ):
                    dup = True
                    break
                slot = (slot + 1) & (size - 1)
            if dup:
                continue
            table_img[slot] = x
            table_ts[slot], table_te[slot] = ts, te
            keep[x] |= 1 << (t - 1)
