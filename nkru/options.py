"""What a run is asked to do: the settings a layer may read (plain data; no processes or handles).

`nkru.api` re-exports `Options`; the layers take `options: Options | None` (see the protocol in `nkru.layers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Options:
    """Settings a layer may read. Unknown settings are simply absent."""

    allow_remote: bool = False
    data_docs: Path | None = None
    baseline: Path | None = None
    coverage_threshold: float | None = None
    texts: Path | None = None  # a folder holding the article texts of an open release (matched by SHA-256)
