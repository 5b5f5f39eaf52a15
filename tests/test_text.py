"""Quote matching and text helpers: the comparisons every layer relies on."""

from __future__ import annotations

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
