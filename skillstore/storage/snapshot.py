"""Snapshots: the immutable files of one generation, in ``snap-<generation>/``.

A snapshot is written into a fresh temporary directory, every file through the
checked writer and fsynced, then the directory is renamed into place. Its files'
sizes and CRC-32s go into the MANIFEST, and they are checked before any byte is
decoded, because FAISS loads a flipped byte without noticing.

Old generations are removed only when they are provably the store's own: a
snapshot directory loses only the file names a snapshot has (anything else in it
stays, and so does the directory), a log only when its header names this store,
and neither while an open store has the generation pinned.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import stat
from pathlib import Path

from skillstore.errors import SkillStoreError, StoreCorruptError
from skillstore.storage import log
from skillstore.storage.files import (
    TEMP_SUFFIX,
    crc32,
    fsync_dir,
    io_errors,
    is_regular,
    open_for_reading,
    read_fd,
    temp_name,
    write_file,
)
from skillstore.storage.lock import claimed
from skillstore.storage.manifest import NAME as MANIFEST_NAME
from skillstore.storage.manifest import SNAPSHOT_FILES, FileEntry, Manifest, log_name, snapshot_dir

GENERATION_NAME = re.compile(r"^(snap|log)-(\d{8})(\.tmp-[0-9a-f]{16})?$")


def write_snapshot(store_dir: Path, generation: int, files: dict[str, bytes | memoryview]) -> dict[str, FileEntry]:
    """Write ``files`` as generation ``generation``'s snapshot; returns their manifest entries."""
    final = store_dir / snapshot_dir(generation)
    temp = store_dir / temp_name(final.name)
    with io_errors("cannot write snapshot", temp):
        os.mkdir(temp, 0o755)
    try:
        entries = {}
        for file_name, content in files.items():
            write_file(temp / file_name, content)
            entries[file_name] = FileEntry(len(content), crc32(content))
        fsync_dir(temp)
        with io_errors("cannot write snapshot", final):
            if os.path.lexists(final):
                raise FileExistsError(17, "a generation of that number exists", str(final))
            os.rename(temp, final)
    except BaseException:
        with claimed(temp) as fd:
            if fd is not None:
                _remove_own_dir(temp, fd)
        raise
    fsync_dir(store_dir)
    return entries


def _open_listed(pin_fd: int, snapshot: Path, manifest: Manifest, file_name: str) -> tuple[int, FileEntry]:
    """A descriptor of a snapshot file in the pinned directory, whose size the MANIFEST's entry
    (returned beside it) has been checked against; the caller closes it."""
    path = snapshot / file_name
    try:
        entry = manifest.files[file_name]
    except KeyError:
        raise StoreCorruptError("the MANIFEST lists no such snapshot file", str(path)) from None
    try:
        fd = open_for_reading(Path(file_name), dir_fd=pin_fd)
    except FileNotFoundError:
        raise StoreCorruptError("snapshot file listed by the MANIFEST is missing", str(path)) from None
    try:
        size = os.fstat(fd).st_size
        if size != entry.size:
            raise StoreCorruptError(f"snapshot file is {size} bytes, the MANIFEST says {entry.size}", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd, entry


def read_verified(pin_fd: int, snapshot: Path, manifest: Manifest, file_name: str) -> bytes:
    """A snapshot file's bytes, opened in the pinned directory and checked against the
    MANIFEST before they are returned (the size is checked before anything is read)."""
    path = snapshot / file_name
    fd, entry = _open_listed(pin_fd, snapshot, manifest, file_name)
    try:
        data = read_fd(fd, path, entry.size)
    finally:
        os.close(fd)
    if len(data) != entry.size:
        raise StoreCorruptError(f"snapshot file is {len(data)} bytes, the MANIFEST says {entry.size}", str(path))
    if crc32(data) != entry.crc32:
        raise StoreCorruptError("snapshot file checksum mismatch", str(path))
    return data


def map_verified(pin_fd: int, snapshot: Path, manifest: Manifest, file_name: str) -> mmap.mmap | bytes:
    """A snapshot file mapped read-only (``b""`` when empty), checked against the MANIFEST's
    size and CRC-32 before it is returned. The mapping outlives the file's removal."""
    path = snapshot / file_name
    mapped = map_unverified(pin_fd, snapshot, manifest, file_name)
    if crc32(mapped) != manifest.files[file_name].crc32:
        raise StoreCorruptError("snapshot file checksum mismatch", str(path))
    return mapped


def map_unverified(pin_fd: int, snapshot: Path, manifest: Manifest, file_name: str) -> mmap.mmap | bytes:
    """A snapshot file mapped read-only after its size is checked; the caller checks its bytes
    (the vectors are checked block by block, so that damage names the rows it hit)."""
    fd, entry = _open_listed(pin_fd, snapshot, manifest, file_name)
    try:
        if entry.size == 0:
            return b""
        with io_errors("cannot map", snapshot / file_name):
            return mmap.mmap(fd, entry.size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    finally:
        os.close(fd)


def next_generation(store_dir: Path, current: int) -> int:
    """The first generation after ``current`` whose names are all free."""
    generation = current + 1
    while any(os.path.lexists(store_dir / name) for name in (snapshot_dir(generation), log_name(generation))):
        generation += 1
    return generation


def remove_stale(store_dir: Path, current: int, store_id: bytes | None, *, only: int | None = None) -> None:
    """Remove this store's generations other than ``current`` that no open store has
    pinned, orphans of interrupted checkpoints, and stale temporary MANIFESTs; with
    ``only``, just generation ``only``. ``store_id`` None (creating a store in a
    directory that holds nothing else) accepts the logs of any store."""
    try:
        names = os.listdir(store_dir)
    except OSError:
        return
    for name in names:
        path = store_dir / name
        if only is None and name.startswith(MANIFEST_NAME + ".tmp-") and TEMP_SUFFIX.search(name) and is_regular(path):
            with contextlib.suppress(OSError):
                os.unlink(path)
            continue
        match = GENERATION_NAME.match(name)
        if match is None or (int(match.group(2)) == current and not match.group(3)):
            continue
        if only is not None and int(match.group(2)) != only:
            continue
        if match.group(1) == "snap":
            _remove_snapshot(path, store_dir / log_name(int(match.group(2))), store_id, temporary=bool(match.group(3)))
        elif not os.path.lexists(store_dir / snapshot_dir(int(match.group(2)))):
            _remove_own_log(path, store_id)  # a log whose snapshot is already gone


def _remove_snapshot(snapshot: Path, log_path: Path, store_id: bytes | None, *, temporary: bool) -> None:
    with claimed(snapshot) as fd:  # an interrupted checkpoint's temporary directory is never pinned
        if fd is None:
            return  # pinned by an open store, or not a directory of ours
        if not temporary:
            _remove_own_log(log_path, store_id)
        _remove_own_dir(snapshot, fd)


def _remove_own_log(path: Path, store_id: bytes | None) -> None:
    """Unlink the log at ``path`` if its header proves it is this store's."""
    try:
        fd, header = log.read_log(path)
    except (OSError, SkillStoreError):
        return
    os.close(fd)
    if store_id is None or header.store_id == store_id:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _remove_own_dir(directory: Path, fd: int) -> None:
    """Remove the snapshot files (and their temporaries) from ``directory``, open as ``fd``,
    then the directory if nothing else is in it. Works through the descriptor, so a
    directory swapped for a symbolic link meanwhile never leads outside the store."""
    with contextlib.suppress(OSError):
        for name in os.listdir(fd):
            if TEMP_SUFFIX.sub("", name) in SNAPSHOT_FILES and stat.S_ISREG(
                os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
            ):
                os.unlink(name, dir_fd=fd)
        os.rmdir(directory)  # refused if it is no longer an empty directory
