"""Bytes on disk: the only package that reads or writes a store's files.

- ``files``: atomic replace, fsync, checksums, bounded reads.
- ``manifest``: the MANIFEST, the single commit point of a generation.
- ``log``: the append-only write-ahead log of CRC-framed msgpack records.
- ``snapshot``: the immutable files of one generation.
- ``lock``: the ``flock`` that serialises writers across processes.
"""
