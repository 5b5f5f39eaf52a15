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

    def check(self, layers: list[str], root: Path) -> None:
        """Refuse settings that cannot work, before any layer runs: raises ValueError (a usage error).

        `layers` are the layers that will run; `root` is the package root (git refs are looked up there).
        """
        if self.coverage_threshold is not None:
            from nkru.coverage import ThresholdError, check_threshold

            try:
                check_threshold(self.coverage_threshold)
            except ThresholdError as exc:
                raise ValueError(f"coverage threshold: {exc}") from None
        if self.baseline is not None:
            from nkru.snapshot import check_spec

            check_spec(self.baseline, root=root)
        if self.texts is not None and not Path(self.texts).is_dir():
            raise ValueError(f"--texts {self.texts}: no such folder (give the folder holding the article texts, "
                             "for example data/sources of a clone of the repository)")
        if self.data_docs is not None:
            if "expectations" not in layers:
                raise ValueError("the Data Docs site (--out) needs the expectations layer (it is skipped or not in --only)")
            from nkru.layers.expectations import prepare_data_docs

            prepare_data_docs(self.data_docs)
