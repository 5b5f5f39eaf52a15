"""JSON from a package, within documented limits: a descriptor, a Table Schema, a manifest.

A package may come from a stranger, so its JSON is checked before it is parsed: at most
`MAX_BYTES` bytes and at most `MAX_DEPTH` levels of nested arrays and objects. Deeper JSON
would otherwise end in a RecursionError somewhere in the parser or in a JSON Schema
validator; here it is a `JSONLimitError` (a ValueError, like a syntax error) with a clear
message, which the callers turn into a finding or a usage error.

JSON may escape a lone UTF-16 surrogate (`"\\ud800"`), a code point no UTF-8 file, terminal,
database or spreadsheet can store. `loads` reads each such escape as the six characters it is
written with (`\\ud800`), so every output shows it as the package wrote it and every export can
store it; a surrogate pair (`"\\ud83d\\ude00"`) is one character, read as usual.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

#: Largest JSON file read (a descriptor, a Table Schema, a metadata file): 5 MiB.
MAX_BYTES = 5 * 1024 * 1024
#: Deepest nesting of arrays and objects (the real descriptor and schemas nest 5 levels).
MAX_DEPTH = 64

_LONE = re.compile("[\ud800-\udfff]")
_MAYBE_LONE = re.compile(r"\\u[dD][89a-fA-F]")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = str.maketrans({"[": "+", "{": "+", "]": "-", "}": "-"})


class JSONLimitError(ValueError):
    """The JSON is larger or deeper than the documented limits."""


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON text (brackets inside strings do not count)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text)).translate(_STEP)
    if not brackets:
        return 0
    return max(accumulate(1 if step == "+" else -1 for step in brackets))


def check(text: str | bytes, *, name: str = "JSON") -> None:
    """Raise JSONLimitError when `text` is over `MAX_BYTES` or nests deeper than `MAX_DEPTH`."""
    size = len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else len(text)
    if size > MAX_BYTES:
        raise JSONLimitError(f"{name} is {size:,} bytes, more than the limit of {MAX_BYTES:,} bytes")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    deepest = depth(text)
    if deepest > MAX_DEPTH:
        raise JSONLimitError(f"{name} nests arrays and objects {deepest} levels deep, more than the limit of {MAX_DEPTH}")


def loads(text: str | bytes, *, name: str = "JSON") -> Any:
    """`json.loads` within the limits. Raises JSONLimitError or json.JSONDecodeError (both ValueErrors)."""
    check(text, name=name)
    try:
        data = json.loads(text)
    except RecursionError:  # cannot happen within MAX_DEPTH; kept so no traceback is ever possible
        raise JSONLimitError(f"{name} nests too deeply to be read") from None
    if _MAYBE_LONE.search(text if isinstance(text, str) else text.decode("utf-8", "replace")):
        data = without_surrogates(data)
    return data


def storable(text: str) -> str:
    """`text` with each lone surrogate as the six characters of its JSON escape (`\\ud800`)."""
    return _LONE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) if _LONE.search(text) else text


def without_surrogates(data: Any) -> Any:
    """`data` (parsed JSON) with every string, keys included, made `storable`."""
    if isinstance(data, str):
        return storable(data)
    if isinstance(data, list):
        return [without_surrogates(item) for item in data]
    if isinstance(data, dict):
        return {storable(key): without_surrogates(value) for key, value in data.items()}
    return data
