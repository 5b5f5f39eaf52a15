"""Find everything in an HTML page that a browser would fetch from elsewhere.

The report must work from `file://` with no network: no scripts, styles, fonts or
images from a CDN. `external_references(html)` lists every resource a page would
load from a URL with a scheme (other than `data:`) or a scheme-relative `//host`
address: `src`, `href` of stylesheets and SVG images, `srcset`, `poster`, `data`,
`ping`, CSS `url(...)` (in style sheets, style attributes and SVG presentation
attributes such as `fill`) and `@import`, meta refresh. Plain links the reader may
follow (`<a href>`) are navigation, not loads, and are allowed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: attribute -> tags on which it makes the browser fetch something (None: on any tag).
_LOADING = {
    "src": None,
    "srcset": None,
    "poster": None,
    "data": {"object"},
    "background": None,
    "manifest": {"html"},
    "ping": None,
    "action": {"form"},
    "formaction": None,
    "href": {"link", "image", "use", "feimage", "script", "base"},
    "xlink:href": {"image", "use", "feimage", "script"},
}
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(?P<url>[^'")]*)\1\s*\)|@import\s+(['"])(?P<import>[^'"]*)\3""", re.IGNORECASE)
_REFRESH = re.compile(r"url\s*=\s*(?P<url>\S+)", re.IGNORECASE)


def is_external(url: str) -> bool:
    """True for an address that leaves the page: any scheme but data:, or //host."""
    url = url.strip()
    if not url or url.startswith("#"):
        return False
    if url.startswith("//"):
        return True
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):", url)
    return bool(match) and match.group(1).lower() != "data"


def css_references(css: str) -> list[str]:
    found = []
    for match in _CSS_URL.finditer(css):
        url = match.group("url") if match.group("url") is not None else match.group("import")
        if url and is_external(url):
            found.append(url)
    return found


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.links: list[str] = []  # every address a link (`href`) follows
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if tag == "style":
            self._in_style = True
        for name, value in attrs:
            if value is None:
                continue
            name = name.lower()
            if name in ("href", "xlink:href"):
                self.links.append(value)
            tags = _LOADING.get(name, ())
            if tags is None or (tags and tag in tags):
                urls = [part.strip().split(" ")[0] for part in value.split(",")] if name in ("srcset", "ping") else [value]
                self.found.extend(f"<{tag} {name}={url}>" for url in urls if is_external(url))
            if "url(" in value.lower():  # style="...", and SVG fill/marker/filter/mask/clip-path="url(...)"
                self.found.extend(f"<{tag} {name}> url({url})" for url in css_references(value))
            if tag == "meta" and name == "content" and dict(attrs).get("http-equiv", "").lower() == "refresh":
                match = _REFRESH.search(value)
                if match and is_external(match.group("url")):
                    self.found.append(f"<meta refresh> {match.group('url')}")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag.lower() == "style":
            self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        if tag.lower() == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found.extend(f"<style> {url}" for url in css_references(data))


def external_references(html: str) -> list[str]:
    """Every resource the page would fetch from outside itself (empty for an offline page)."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.found


def unsafe_links(html: str) -> list[str]:
    """Every link that is neither within the page (`#...`) nor an http(s) address (e.g. `javascript:`)."""
    from nkru.text import safe_url

    collector = _Collector()
    collector.feed(html)
    collector.close()
    return [link for link in collector.links if not link.startswith("#") and safe_url(link) is None]
