"""Snapshots: the immutable files of one generation, in ``snap-<generation>/``.

A snapshot is written under ``<name>.tmp``, every file fsynced, then the directory
is renamed into place. Its files' sizes and CRC-32s go into the MANIFEST, and
they are checked before any byte is decoded, because FAISS loads a flipped byte
without noticing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from skillstore.errors import StoreCorruptError
from skillstore.storage.files import crc32, fsync_dir, io_errors, write_file
from skillstore.storage.manifest import FileEntry, Manifest


def write_snapshot(store_dir: Path, name: str, files: dict[str, bytes]) -> dict[str, FileEntry]:
    """Write ``files`` as the snapshot directory ``name``; returns their manifest entries."""
    final = store_dir / name
    temp = store_dir / (name + ".tmp")
    with io_errors("cannot write snapshot", temp):
        shutil.rmtree(temp, ignore_errors=True)
        os.mkdir(temp)
    entries = {}
    for file_name, data in files.items():
        write_file(temp / file_name, data)
        entries[file_name] = FileEntry(len(data), crc32(data))
    with io_errors("cannot write snapshot", final):
        fsync_dir(temp)
        shutil.rmtree(final, ignore_errors=True)  # an orphan of a checkpoint that crashed
        os.rename(temp, final)
        fsync_dir(store_dir)
    return entries


def read_snapshot(store_dir: Path, manifest: Manifest) -> dict[str, bytes]:
    """Every file of the manifest's snapshot, each checked against its size and checksum."""
    directory = store_dir / manifest.snapshot_dir
    contents = {}
    for file_name, entry in manifest.files.items():
        path = directory / file_name
        with io_errors("cannot read", path), open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size != entry.size:
                raise StoreCorruptError(f"snapshot file is {size} bytes, the MANIFEST says {entry.size}", str(path))
            data = handle.read(size)
        if crc32(data) != entry.crc32:
            raise StoreCorruptError("snapshot file checksum mismatch", str(path))
        contents[file_name] = data
    return contents
