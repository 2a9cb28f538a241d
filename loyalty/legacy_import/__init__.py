"""The legacy import: members, opening balances and historical entries from files exported by old systems.

The pipeline, each step streaming or set-based so memory stays flat in the file size:

1. ``reading``: detect encoding, delimiter and line ends; decode strictly line by line (a row with bytes that
   are not text in the chosen encoding is rejected, never stored as mojibake); split CSV records; normalise
   phones to E.164 in Python (the only per-row Python rule).
2. ``staging``: COPY the raw text of the mapped columns into an UNLOGGED table per batch.
3. ``validation``: one set-based pass builds a typed table with every rule's verdict per row (required fields,
   whole-number points in the chosen number format, real dates, shapes, caps, duplicates in the file and against
   the database) and writes each rejection as an ``ImportRowError``.
4. ``commit``: per chunk of rows, one transaction inserts members, accounts, entries, lots and allocations and
   moves cached balances, together with the batch's progress, so an interrupted commit resumes exactly.
5. ``undo``: reversal entries for every entry of the batch, set-based where lots are untouched, through
   ``loyalty.services.entry_reverse`` where later activity touched them.

``services`` holds the only entry points: ``import_batch_create``, ``import_batch_dry_run``,
``import_batch_commit``, ``import_batch_undo`` and ``import_batch_discard``.
"""
