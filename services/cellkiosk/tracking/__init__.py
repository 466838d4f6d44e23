"""cellkiosk.tracking: link per-frame labels into tracks and lineages (pure; see docs/tracking.md).

``movie.track_movie`` chains ``features`` → ``linking`` (``lap``, ``divisions``) → ``lineage``;
``ctc_io`` reads, writes and validates Cell Tracking Challenge folders.
"""
