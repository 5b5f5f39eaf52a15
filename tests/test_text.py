"""Quote matching and text helpers: the comparisons every layer relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from nkru.text import FoldedText, Span, fold, markdown_cell

ARTICLE = "Titel\n\nErster  Satz über Pjöngjang.\nZweiter\tSatz „mit Zitat“.\n"


@pytest.mark.parametrize("quote", ["Erster Satz", "Pjöngjang. Zweiter Satz", "Pjo\u0308ngjang", "  Zweiter\n Satz  "])
def test_quotes_match_after_nfc_and_whitespace_folding(quote):
    assert FoldedText(ARTICLE).find_all(quote)


@pytest.mark.parametrize("quote", ["Erster Satz!", "Pjongjang", "zweiter Satz", ""])
def test_other_text_does_not_match(quote):
    assert FoldedText(ARTICLE).find_all(quote) == []


def test_offsets_map_back_to_lines_and_original_text():
    text = FoldedText(ARTICLE)
    (span,) = text.find_all("Zweiter Satz")
    assert text.line_of(span.start) == 4
    start, end = text.nfc_range(span)
    assert text.nfc[start:end] == "Zweiter\tSatz"


def test_closest_passage_points_at_the_likely_quote():
    passage, score, line = FoldedText(ARTICLE).closest("Zweiter Satz mit Zitat")
    assert "Zweiter Satz" in passage and 50 < score < 100 and line == 4


def test_fold_and_span_overlap():
    assert fold("  a\u00a0\n b ") == "a b"
    assert Span(0, 5).overlaps(Span(4, 8)) and not Span(0, 5).overlaps(Span(5, 8))


def test_split_whitespace_is_regex_whitespace_and_ends_at_the_ideographic_space():
    """fold and FoldedText split with str.split(); the rest of the toolkit folds with `\\s`: the same
    characters, and none beyond LAST_SPACE (verbatim_bounds looks whitespace up in a table)."""
    import re

    from nkru.text import LAST_SPACE

    space = re.compile(r"\s")
    spaces = [c for c in range(0x110000) if chr(c).isspace()]
    assert len(spaces) > 20 and max(spaces) == LAST_SPACE
    assert [c for c in range(0x110000) if bool(space.match(chr(c))) != chr(c).isspace()] == []
    assert [c for c in spaces if f"a{chr(c)}b".split() != ["a", "b"]] == []
    assert fold("\x1c a\u3000\u3000b\x85") == "a b" == re.sub(r"\s+", " ", "\x1c a\u3000\u3000b\x85").strip()


ODD = "  Titel\x1c\n\n\u3000Erster  Satz über Pjöngjang.\x85Zweiter\tSatz „mit 😀 Zitat“.\ud800 Ende \n\t"


SOURCES = [p.read_text(encoding="utf-8") for p in sorted((Path(__file__).parents[1] / "data" / "sources").glob("*.txt"))]


def test_verbatim_bounds_are_the_folded_spans():
    """All texts at once (one cumulative sum over the NFC ones laid end to end) or span by span (word maps
    and bisection): the same spans, for every passage that neither starts nor ends with whitespace; texts
    that begin or end with whitespace next to ones that do not, and one that is not NFC, among them."""
    from nkru.text import verbatim_bounds

    originals = [ARTICLE, ODD, "x", "a b", " \tlead", "trail\n ", "Pjo\u0308ngjang  liegt\nam Taedong", *SOURCES[:2]]
    texts = [FoldedText(original) for original in originals]
    assert any(text._chunks is not None for text in texts) and any(text._chunks is None for text in texts)
    places = []
    for text, original in zip(texts, originals):
        solid = [i for i, char in enumerate(original) if not char.isspace()]
        step = max(1, len(solid) // 40)
        places += [(text, start, end + 1) for start in solid[::step] for end in solid[::step] if end >= start]
    places = places[::-1]  # texts interleaved out of order
    expected = [(span.start, span.end) for span in (text.folded_span(start, end) for text, start, end in places)]
    assert len(places) > 1000
    assert verbatim_bounds(places) == expected
    assert verbatim_bounds([]) == []


@pytest.mark.parametrize(("value", "expected"), [
    ("a|b", "a\\|b"),
    ("<script>", "&lt;script&gt;"),
    ("line\nbreak\r\nend", "line<br>break<br>end"),
    ("back\\slash", "back\\\\slash"),
    (None, ""),
])
def test_markdown_cell(value, expected):
    assert markdown_cell(value) == expected


@pytest.mark.parametrize("raw, escaped", [
    ("C\u202e001", "C\\u202e001"), ("\x1b[2J", "\\u001b[2J"), ("a\u0085b\u2028c", "a\\u0085b\\u2028c"),
    ("tab\there", "tab\\u0009here"), ("plain ÄÖ 한국", "plain ÄÖ 한국"),
])
def test_escape_controls_shows_control_and_bidi_characters(raw, escaped):
    import json

    from nkru.text import escape_controls

    assert escape_controls(raw) == escaped
    assert json.loads('"' + escape_controls(raw) + '"') == raw  # the escape is a JSON escape of the same character
    assert escape_controls("line\nbreak") == "line\nbreak"


def test_visible_puts_a_value_on_one_line():
    from nkru.text import visible

    assert visible("a\r\nb\tc\u202e") == "a\\r\\nb\\tc\\u202e"
    assert visible(None) == ""


@pytest.mark.parametrize("url, ok", [
    ("https://example.org/a?b=c#d", True), ("http://example.org", True), ("HTTPS://EXAMPLE.ORG", True),
    ("javascript:alert(1)", False), ("JaVaScRiPt:alert(1)", False), ("java\tscript:alert(1)", False),
    ("data:text/html,<script>", False), ("file:///etc/passwd", False), ("//evil.example", False),
    (" https://example.org", False), ("https://exa mple.org", False), ("https://x\"onmouseover=\"a", False),
    ("", False), (None, False), (["https://x"], False),
])
def test_only_http_and_https_addresses_are_safe_links(url, ok):
    from nkru.text import safe_url

    assert (safe_url(url) == url) if ok else safe_url(url) is None
