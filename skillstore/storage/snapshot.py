"""Snapshots: the immutable files of one generation, in ``snap-<generation>/``.

A snapshot is written under ``<name>.tmp``, every file fsynced, then the directory
is renamed into place. Its files' sizes and CRC-32s go into the MANIFEST, and
they are checked before any byte is decoded, because FAISS loads a flipped byte
without noticing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from skillstore.errors import StoreCorruptError
from skillstore.storage.files import crc32, file_crc32, fsync_dir, io_errors, write_file
from skillstore.storage.manifest import FileEntry, Manifest

# A snapshot file is given as its bytes, or as a function that writes it to a path
# (FAISS writes its own files; serialising a large index to bytes first is slow).
FileContent = bytes | Callable[[Path], None]


def write_snapshot(store_dir: Path, name: str, files: dict[str, FileContent]) -> dict[str, FileEntry]:
    """Write ``files`` as the snapshot directory ``name``; returns their manifest entries."""
    final = store_dir / name
    temp = store_dir / (name + ".tmp")
    with io_errors("cannot write snapshot", temp):
        shutil.rmtree(temp, ignore_errors=True)
        os.mkdir(temp)
    entries = {}
    for file_name, content in files.items():
        path = temp / file_name
        if isinstance(content, bytes):
            write_file(path, content)
            entries[file_name] = FileEntry(len(content), crc32(content))
        else:
            with io_errors("cannot write", path):
                content(path)
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            entries[file_name] = FileEntry(*file_crc32(path))
    with io_errors("cannot write snapshot", final):
        fsync_dir(temp)
        shutil.rmtree(final, ignore_errors=True)  # an orphan of a checkpoint that crashed
        os.rename(temp, final)
        fsync_dir(store_dir)
    return entries


def _entry(manifest: Manifest, path: Path) -> FileEntry:
    try:
        return manifest.files[path.name]
    except KeyError:
        raise StoreCorruptError("the MANIFEST lists no such snapshot file", str(path)) from None


def verified_path(store_dir: Path, manifest: Manifest, file_name: str) -> Path:
    """The path of a snapshot file after checking its size and checksum, read in chunks."""
    path = store_dir / manifest.snapshot_dir / file_name
    entry = _entry(manifest, path)
    size, checksum = file_crc32(path)
    _check(path, entry, size, checksum)
    return path


def read_verified(store_dir: Path, manifest: Manifest, file_name: str) -> bytes:
    """A snapshot file's bytes, checked against the MANIFEST before they are returned."""
    path = store_dir / manifest.snapshot_dir / file_name
    entry = _entry(manifest, path)
    with io_errors("cannot read", path), open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size != entry.size:  # checked before reading: sizes are bounded by the MANIFEST
            _check(path, entry, size, 0)
        data = handle.read(size)
    _check(path, entry, len(data), crc32(data))
    return data


def verify_snapshot(store_dir: Path, manifest: Manifest) -> None:
    """Check every file of the manifest's snapshot; raises StoreCorruptError naming a bad one."""
    for file_name in manifest.files:
        verified_path(store_dir, manifest, file_name)


def _check(path: Path, entry: FileEntry, size: int, checksum: int) -> None:
    if size != entry.size:
        raise StoreCorruptError(f"snapshot file is {size} bytes, the MANIFEST says {entry.size}", str(path))
    if checksum != entry.crc32:
        raise StoreCorruptError("snapshot file checksum mismatch", str(path))
