"""Small inputs in the real formats of the metadata sources: a MediaWiki XML export (bz2), hourly
pageview files, and a WordNet dict folder."""

import bz2
import gzip
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

EXPORT_HEAD = (
    '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="0.10" xml:lang="en">\n'
    "  <siteinfo>\n    <sitename>Wikipedia</sitename>\n    <dbname>enwiki</dbname>\n"
    "    <base>https://en.wikipedia.org/wiki/Main_Page</base>\n"
    '    <namespaces>\n      <namespace key="0" case="first-letter" />\n'
    '      <namespace key="1" case="first-letter">Talk</namespace>\n    </namespaces>\n'
    "  </siteinfo>\n"
)


def export_xml(pages: list[dict]) -> str:
    """pages: {"title", "text", "ns" (default 0), "redirect" (target title, optional)}."""
    out = [EXPORT_HEAD]
    for i, page in enumerate(pages, 1):
        redirect = page.get("redirect")
        out.append(
            f"  <page>\n    <title>{escape(page['title'])}</title>\n"
            f"    <ns>{page.get('ns', 0)}</ns>\n    <id>{i}</id>\n"
            + (f"    <redirect title={quoteattr(redirect)} />\n" if redirect else "")
            + f"    <revision>\n      <id>{1000 + i}</id>\n      <parentid>{999 + i}</parentid>\n"
            "      <timestamp>2023-01-01T00:00:00Z</timestamp>\n"
            "      <contributor>\n        <username>Editor</username>\n        <id>7</id>\n"
            "      </contributor>\n      <model>wikitext</model>\n      <format>text/x-wiki</format>\n"
            f'      <text bytes="{len(page["text"].encode())}" xml:space="preserve">'
            f"{escape(page['text'])}</text>\n"
            "      <sha1>0000000000000000000000000000000</sha1>\n    </revision>\n  </page>\n"
        )
    out.append("</mediawiki>\n")
    return "".join(out)


def write_dump(path: Path, pages: list[dict]) -> Path:
    path.write_bytes(bz2.compress(export_xml(pages).encode("utf-8")))
    return path


def write_pageviews(folder: Path, name: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(gzip.compress("".join(line + "\n" for line in lines).encode("utf-8")))
    return path


WORDNET_LICENCE = (
    "  1 This software and database is being provided to you, the LICENSEE, by  \n"
    "  2 Princeton University under the following license.  \n"
)
# Synset lines in WordNet 3.0's data file layout: offset lex_filenum ss_type w_cnt word lex_id ...
WORDNET_FIXTURE = {
    "adj": [
        "00001740 00 a 01 able(a) 0 005 = 05207437 n 0000 | (usually followed by `to') having the"
        " necessary means or skill  ",
        "00002098 00 a 01 unable 0 002 = 05207437 n 0000 | (usually followed by `to') not having"
        " the necessary means  ",
        "00002312 00 s 02 abaxial 0 dorsal 4 002 ;c 06037666 n 0000 | facing away from the axis  ",
    ],
    "adv": ["00001740 02 r 01 Ph.D. 0 000 | a doctorate  "],
    "noun": [
        "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived  ",
        "00001930 03 n 01 .22_caliber 0 000 | a gauge  ",
        "00002000 05 n 02 red_fox 0 Vulpes_vulpes 0 000 | a fox  ",
        "00002100 03 n 01 Entity 0 000 | a repeated name  ",
        "00002200 03 n 01 & 0 000 | an ampersand  ",
        "00002300 03 n 01 7 0 000 | seven  ",
    ],
    "verb": ["00001740 29 v 02 breathe 0 take_a_breath 0 000 | draw air  "],
}
WORDNET_FIXTURE_NAMES = [str(i) for i in range(100)] + [
    "able",
    "unable",
    "abaxial",
    "ph",
    "entity",
    "red fox",
    "breathe",
]


def write_wordnet(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for pos, lines in WORDNET_FIXTURE.items():
        (folder / f"data.{pos}").write_text(WORDNET_LICENCE + "".join(f"{x}\n" for x in lines))
    return folder
