"""Corpora: reading a file into rows, keeping rows on disk, deduplicating and splitting them.

* ``formats.py``   CSV / TSV / JSON Lines: which one a file is, its rows as records
* ``encoding.py``  UTF-8, GB18030 or Big5, and how garbled a decoded text looks
* ``archives.py``  a ZIP holding the corpus; Excel workbooks and binary data refused by name
* ``examples.py``  ``Example`` (one usable row), ``SkippedRow`` / ``SkippedRows`` (rows left out)
* ``reading.py``   ``CorpusStream``: a file read one row at a time, bad rows skipped and listed
* ``preview.py``   the first rows of an upload, with guesses for its text and label columns
* ``rows.py``      ``RowStore`` / ``RowView``: rows on disk, texts read back one at a time
* ``splits.py``    ``prepare_splits``: dedup with label voting, then train / dev / test
* ``inspection.py`` ``inspect_corpus``: what the web shows about an upload
* ``sequences.py`` ``RowSequence``: a list-like view of rows on disk (also used by the token store); ``Chained``, ``Subset``
* ``lines.py``     ``TextLinesStream``: unlabelled text, one per line; ``plain_text.py`` stores such a file as UTF-8

No torch anywhere in this package, not even lazily: the web process reads and
splits uploads with it (tests/distill/test_purity.py checks this). numpy is fine.
"""
