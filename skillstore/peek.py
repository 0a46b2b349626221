"""The header peek: a store's facts read from its MANIFEST and log, without loading it.

``peek`` never decodes the snapshot's skills or its index, so it is cheap on
a large store and still answers when the snapshot is damaged (``verify`` is the
command that checks the data itself).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from skillstore.errors import StoreNotFoundError
from skillstore.storage import log
from skillstore.storage.manifest import NAME as MANIFEST_NAME
from skillstore.storage.manifest import read_manifest


@dataclass(frozen=True)
class StoreInfo:
    """What :func:`peek` found.

    ``skills`` is the count after the log's frames (the snapshot's count plus the
    skills added minus those deleted since the last checkpoint); ``snapshot_skills``
    is the count the snapshot holds. Sizes are in bytes.
    """

    path: str
    format_version: int
    dim: int
    metric: str
    index_kind: str
    index_active: str
    index_params: dict[str, Any]
    generation: int
    skills: int
    snapshot_skills: int
    log_frames: int
    log_bytes: int
    torn_bytes: int
    snapshot_bytes: int
    bytes_on_disk: int
    created_at: float
    checkpointed_at: float
    embedder: dict[str, Any] | None = None  # the recorded embedder's identity: name, params, dim

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def peek(path: str | os.PathLike[str]) -> StoreInfo:
    """The facts of the store at ``path``; raises StoreNotFoundError when there is none,
    StoreCorruptError or FormatVersionError when its MANIFEST or log cannot be read."""
    directory = Path(path)
    if not (directory / MANIFEST_NAME).is_file():
        raise StoreNotFoundError(f"no skill store at {directory}")
    manifest = read_manifest(directory)
    expected = log.LogHeader(manifest.store_id, manifest.generation, manifest.seq, 0)
    try:
        scan = log.scan(directory / manifest.log_name, expected)
        frames, log_bytes, torn_bytes = [frame for _, frame in scan.frames], scan.cursor.end, scan.torn_bytes
    except FileNotFoundError:  # a checkpoint replaced the generation as we looked
        frames, log_bytes, torn_bytes = [], 0, 0
    return StoreInfo(
        path=str(directory),
        format_version=manifest.file_format,
        dim=manifest.dim,
        metric=manifest.metric,
        index_kind=str(manifest.index.get("kind", "")),
        index_active=str(manifest.index.get("active", manifest.index.get("kind", ""))),
        index_params={k: v for k, v in manifest.index.items() if k not in ("kind", "active")},
        generation=manifest.generation,
        skills=manifest.skills + sum(_count_change(frame) for frame in frames),
        snapshot_skills=manifest.skills,
        log_frames=len(frames),
        log_bytes=log_bytes,
        torn_bytes=torn_bytes,
        snapshot_bytes=sum(entry.size for entry in manifest.files.values()),
        bytes_on_disk=_disk_usage(directory),
        created_at=manifest.created_at,
        checkpointed_at=manifest.checkpointed_at,
        embedder=manifest.embedder,
    )


read_info = peek  # the name of the first release


def _count_change(frame: Any) -> int:
    """How a log frame changes the number of skills (the store's frame schema:
    an ``add`` carries new records or merges into existing ones; a ``delete`` lists ids)."""
    if not isinstance(frame, dict):
        return 0
    items, ids = frame.get("items"), frame.get("ids")
    if frame.get("op") == "add" and isinstance(items, list):
        return sum(1 for item in items if isinstance(item, dict) and "merge" not in item)
    if frame.get("op") == "delete" and isinstance(ids, list):
        return -len(ids)
    return 0


def _disk_usage(directory: Path) -> int:
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue  # removed by a concurrent checkpoint
    return total
