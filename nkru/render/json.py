"""JSON output: exactly the library's report (`Report.to_dict()`)."""

from __future__ import annotations

import json

from nkru.findings import Report


def dumps(report: Report) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2)


def render(report: Report, console, **_: object) -> None:
    # Plain write: rich would wrap long lines and break the JSON.
    console.file.write(dumps(report) + "\n")
