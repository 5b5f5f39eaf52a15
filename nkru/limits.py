"""Reading limits: the one place that says how much of a resource file nkru will read.

Every limit is reported as a finding naming the file (and line and field where there is one),
never a crash or a hang. They are listed in README ("Reading limits"); change them here only.
Hostile-input limits on outputs, JSON depth and paths live with those features (issue 10).
"""

from __future__ import annotations

#: A resource file larger than this is not read at all (finding `file-too-large`).
MAX_FILE_BYTES = 2 * 1024**3

#: A cell longer than this many characters is reported (finding `cell-too-large`) and the table
#: cannot be loaded. It is the most an Excel cell holds, so every export takes every cell that
#: passes (the longest real cell is under 1,000 characters).
MAX_CELL_CHARS = 32_767

#: A header with more columns than this is not read (finding `too-many-columns`): a Table Schema
#: of this dataset has fewer than 20 fields, and a header of a million cells would otherwise make
#: a frame of a million columns (minutes, not seconds).
MAX_COLUMNS = 1_000

#: Rows the reader takes from the CSV tokenizer at a time (memory, not a limit on the data).
CHUNK_ROWS = 50_000

#: Findings of one check in one file listed in a report (`nkru.findings.finding_budget`); beyond it they
#: are counted in one `findings-capped` finding. A file of garbage rows fails most checks on every
#: row: a million findings took minutes to build and render (200 MB of such rows in claims.csv ran
#: past 8 minutes) and nobody reads past the first thousand of one kind; a real package has none.
MAX_FINDINGS_PER_CHECK = 1_000

#: Blank lines next to each other are reported as one finding (`blank-row`, first line and count),
#: so a million blank lines give one finding, not a million.
LIMITS = {
    "MAX_FILE_BYTES": MAX_FILE_BYTES,
    "MAX_CELL_CHARS": MAX_CELL_CHARS,
    "MAX_COLUMNS": MAX_COLUMNS,
    "MAX_FINDINGS_PER_CHECK": MAX_FINDINGS_PER_CHECK,
}
