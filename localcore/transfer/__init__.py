"""``python -m localcore export FILE`` / ``import FILE``: move every table between backends of any kind.

- :mod:`.format` — the file: a versioned JSON-lines header, one line per row, a trailer with row counts
  and sha256 checksums.
- :mod:`.export` — one consistent snapshot of the source (``SnapshotSource``), streamed out.
- :mod:`.importer` — one transaction on the target (``SnapshotSink``): refused unless empty or
  ``replace``; every check passes before it commits.
- :mod:`.verify` — the ledger identities, before and after the commit.
- :mod:`.cli` — the two commands (progress bar on a terminal).

The backends' side is ``localcore.contract.snapshot`` (``backends/sql/snapshot.py``,
``backends/memory/snapshot.py``).
"""

from __future__ import annotations

from localcore.transfer.export import ExportResult, export_file, export_to
from localcore.transfer.format import FORMAT_NAME, FORMAT_VERSION, TransferError
from localcore.transfer.importer import ImportResult, TargetNotEmpty, import_file, import_from

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ExportResult",
    "ImportResult",
    "TargetNotEmpty",
    "TransferError",
    "export_file",
    "export_to",
    "import_file",
    "import_from",
]
