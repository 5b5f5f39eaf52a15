"""The recommended citation of the current version, built from CITATION.cff.

Formats: `text` (APA-like), `bibtex` (written by pybtex), `ris` (written by
rispy) and `cff` (the file itself). A DOI is used only when CITATION.cff has
one (`doi`, or an `identifiers` entry of type doi); none is ever made up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nkru.metadata import CITATION, REPOSITORY_KEY, MetadataError, cff_doi, cff_licenses, cff_repository, load_cff

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


class CitationError(ValueError):
    """CITATION.cff is missing or cannot be read."""


@dataclass
class Author:
    family: str | None = None
    given: str | None = None
    particle: str | None = None
    suffix: str | None = None
    entity: str | None = None  # an organisation or group: a name that is never split

    @classmethod
    def from_cff(cls, data: dict[str, Any]) -> "Author":
        if data.get("name") and not data.get("family-names"):
            return cls(entity=str(data["name"]))
        return cls(family=_str(data.get("family-names")), given=_str(data.get("given-names")),
                   particle=_str(data.get("name-particle")), suffix=_str(data.get("name-suffix")))

    @property
    def last(self) -> str:
        return " ".join(p for p in (self.particle, self.family) if p) or (self.given or "")

    def apa(self) -> str:
        if self.entity:
            return self.entity
        initials = " ".join(f"{part[0]}." for part in re.split(r"[\s]+", self.given or "") if part)
        name = self.last + (f", {initials}" if initials and self.family else "")
        return name + (f", {self.suffix}" if self.suffix else "")


@dataclass
class Citation:
    title: str
    authors: list[Author]
    version: str | None = None
    date: str | None = None  # YYYY-MM-DD
    doi: str | None = None
    url: str | None = None
    publisher: str | None = None
    licenses: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    abstract: str | None = None
    cff_text: str = ""
    repository: str | None = None  # CITATION.cff repository-code: the one setting for the repository URL

    @property
    def warnings(self) -> list[str]:
        """What makes the citation hard to follow: no repository URL (and no DOI) set in CITATION.cff."""
        if self.repository is None and self.doi is None:
            return [f"{CITATION} sets no {REPOSITORY_KEY} (the repository URL) and no DOI, so this citation does not say "
                    "where the data is: set repository-code once the repository is public (docs/releasing.md, "
                    "'The repository URL')"]
        if self.repository is None:
            return [f"{CITATION} sets no {REPOSITORY_KEY} (the repository URL); the citation gives only the DOI"]
        return []

    @classmethod
    def from_cff(cls, data: dict[str, Any], text: str = "") -> "Citation":
        authors = [Author.from_cff(a) for a in data.get("authors") or [] if isinstance(a, dict)]
        from nkru.text import safe_url

        # Only an http(s) address is ever shown as the data set's address (never javascript:, file:, ...).
        repository = cff_repository(data)
        url = repository or next((_str(data.get(k)) for k in ("url", "repository", "repository-artifact")
                                  if safe_url(data.get(k))), None)
        publisher = None
        if isinstance(data.get("publisher"), dict):
            publisher = _str(data["publisher"].get("name"))
        return cls(
            title=_str(data.get("title")) or "",
            authors=authors,
            version=_str(data.get("version")),
            date=_str(data.get("date-released")),
            doi=cff_doi(data),
            url=url,
            publisher=publisher,
            licenses=cff_licenses(data),
            keywords=[str(k) for k in data.get("keywords") or []],
            abstract=" ".join(str(data["abstract"]).split()) if data.get("abstract") else None,
            cff_text=text,
            repository=repository,
        )

    @property
    def year(self) -> str | None:
        return self.date[:4] if self.date else None

    @property
    def link(self) -> str | None:
        """https://doi.org/<doi> when there is a DOI, else the URL (if any)."""
        return f"https://doi.org/{self.doi}" if self.doi else self.url

    @property
    def key(self) -> str:
        """A BibTeX key: first author's last name (or entity's first word), year and version."""
        first = self.authors[0] if self.authors else None
        stem = (first.entity.split()[0] if first and first.entity else first.last if first else "") or "dataset"
        parts = [stem, self.year or "", f"v{self.version}" if self.version else ""]
        return re.sub(r"[^A-Za-z0-9_]+", "_", "_".join(p for p in parts if p)).strip("_")


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def load(root: str | Path = ".") -> Citation:
    """The citation from `root`/CITATION.cff; raises CitationError when it is missing or unreadable."""
    path = Path(root)
    if path.is_file():
        path = path.parent
    cff_path = path / CITATION
    try:
        text = cff_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CitationError(f"{cff_path}: no {CITATION} here (is this a nkru package?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CitationError(f"{cff_path}: cannot be read ({exc})") from exc
    try:
        data = load_cff(text)
    except MetadataError as exc:
        where = f" line {exc.line}" if exc.line else ""
        raise CitationError(f"{cff_path}{where}: {exc}") from exc
    citation = Citation.from_cff(data, text)
    if not citation.title or not citation.authors:
        raise CitationError(f"{cff_path}: needs a title and at least one author (run `nkru validate` for details)")
    return citation


# -- formats -------------------------------------------------------------------------


def _apa_authors(authors: list[Author]) -> str:
    names = [a.apa() for a in authors]
    if len(names) <= 1:
        return "".join(names)
    if len(names) == 2:
        return f"{names[0]}, & {names[1]}"
    return ", ".join(names[:-1]) + f", & {names[-1]}"


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."


def to_text(c: Citation) -> str:
    """APA 7 style for a data set: Author. (Year). Title (Version X) [Data set]. Publisher. DOI-or-URL"""
    parts = [_sentence(_apa_authors(c.authors)), f"({c.year or 'n.d.'})."]
    title = c.title + (f" (Version {c.version})" if c.version else "") + " [Data set]"
    parts.append(_sentence(title))
    if c.publisher:
        parts.append(_sentence(c.publisher))
    if c.link:
        parts.append(c.link)
    return " ".join(parts) + "\n"


def to_bibtex(c: Citation) -> str:
    from pybtex.database import BibliographyData, Entry, Person

    persons = []
    for a in c.authors:
        if a.entity:
            persons.append(Person("{" + a.entity + "}"))  # braces: never split into first and last name
        else:
            persons.append(Person(first=a.given or "", prelast=a.particle or "", last=a.family or "", lineage=a.suffix or ""))
    fields = [("title", "{" + c.title + "}")]  # braces keep the title's capitals
    if c.year:
        fields.append(("year", c.year))
    if c.date and len(c.date) >= 7:
        fields.append(("month", _MONTHS[int(c.date[5:7]) - 1]))
    if c.version:
        fields.append(("version", c.version))
    if c.publisher:
        fields.append(("publisher", c.publisher))
    if c.doi:
        fields.append(("doi", c.doi))
    if c.url:
        fields.append(("url", c.url))
    elif c.doi:
        fields.append(("url", f"https://doi.org/{c.doi}"))
    fields.append(("note", "Data set" + (f", version {c.version}" if c.version else "")))
    entry = Entry("misc", fields=fields, persons={"author": persons})
    return BibliographyData(entries={c.key: entry}).to_string("bibtex")


def to_ris(c: Citation) -> str:
    import rispy

    class _Writer(rispy.RisWriter):
        def set_header(self, count: int) -> str:
            return ""  # no "1." line before the record: plain RIS as reference managers expect

    record: dict[str, Any] = {"type_of_reference": "DATA", "title": c.title}
    authors = [a.entity or ", ".join(p for p in (a.last, a.given) if p) for a in c.authors]
    if authors:
        record["authors"] = authors
    if c.year:
        record["year"] = c.year
    if c.date:
        record["date"] = c.date.replace("-", "/")
    if c.version:
        record["edition"] = c.version
    if c.publisher:
        record["publisher"] = c.publisher
    if c.doi:
        record["doi"] = c.doi
    if c.link:
        record["urls"] = [c.link]
    if c.keywords:
        record["keywords"] = c.keywords
    if c.abstract:
        record["abstract"] = c.abstract
    text = rispy.dumps([record], implementation=_Writer)
    return text.lstrip("\n").rstrip("\n") + "\n"


def to_cff(c: Citation) -> str:
    return c.cff_text if c.cff_text.endswith("\n") else c.cff_text + "\n"


#: format -> renderer
FORMATS: dict[str, Callable[[Citation], str]] = {
    "text": to_text,
    "bibtex": to_bibtex,
    "ris": to_ris,
    "cff": to_cff,
}


def cite(root: str | Path = ".", format: str = "text") -> str:
    """The citation in `format`; raises CitationError (no CITATION.cff) or KeyError (unknown format)."""
    return FORMATS[format](load(root))
