"""``SkillStore.verify``: an integrity report over a store's files and its loaded state."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from skillstore.errors import SkillStoreError
from skillstore.storage import log
from skillstore.storage.files import file_crc32
from skillstore.storage.manifest import Manifest, read_manifest

if TYPE_CHECKING:
    from skillstore.catalog import Catalog
    from skillstore.index import VectorIndex
    from skillstore.store import VerifyReport


def verify_store(path: Path, catalog: Catalog, index: VectorIndex, loaded: Manifest) -> VerifyReport:
    from skillstore.store import VerifyReport

    report = VerifyReport()
    _check_files(path, report)
    _check_memory(catalog, index, report)
    report.facts.update(
        {"skills": len(catalog), "rows": catalog.rows, "tombstones": catalog.tombstones,
         "loaded_generation": loaded.generation}
    )
    return report


def _check_files(path: Path, report: VerifyReport) -> None:
    try:
        manifest = read_manifest(path)
    except (SkillStoreError, OSError) as exc:
        report.problems.append(f"MANIFEST: {exc}")
        return
    report.facts["generation"] = manifest.generation
    report.facts["dim"] = manifest.dim
    for name, entry in manifest.files.items():
        file_path = path / manifest.snapshot_dir / name
        try:
            if file_crc32(file_path) != (entry.size, entry.crc32):
                report.problems.append(f"snapshot: {file_path}: size or checksum differs from the MANIFEST's")
        except (SkillStoreError, OSError) as exc:
            report.problems.append(f"snapshot: {exc}")
    expected = log.LogHeader(manifest.store_id, manifest.generation, manifest.seq, 0)
    try:
        scan = log.scan(path / manifest.log_name, expected)
    except (SkillStoreError, OSError) as exc:
        report.problems.append(f"log: {exc}")
        return
    report.facts["log_frames"] = len(scan.frames)
    report.facts["log_bytes"] = scan.cursor.end
    if scan.torn_bytes:
        report.warnings.append(
            f"log: {scan.torn_bytes} bytes of an unfinished append at the end (never acknowledged; "
            "the next write removes them)"
        )


def _check_memory(catalog: Catalog, index: VectorIndex, report: VerifyReport) -> None:
    if len(index) != catalog.rows:
        report.problems.append(f"index holds {len(index)} vectors for {catalog.rows} catalog rows")
        return
    live = catalog.live_rows()
    if len(live):
        norms = np.linalg.norm(index.matrix()[live], axis=1)
        bad = np.flatnonzero(np.abs(norms - 1.0) > 1e-3)
        if len(bad):
            report.problems.append(f"{len(bad)} stored vectors are not unit length")
    seen: set[str] = set()
    for _, record in catalog.live():
        problem = _record_problem(record)
        if record["id"] in seen:
            problem = "duplicate id"
        seen.add(record["id"])
        if problem:
            report.problems.append(f"skill {record['id']!r}: {problem}")


def _record_problem(record: dict[str, Any]) -> str | None:
    stats = record["stats"]
    if min(stats["attempts"], stats["successes"], stats["failures"]) < 0:
        return "negative counter"
    if stats["successes"] + stats["failures"] != stats["attempts"]:
        return "successes + failures != attempts"
    if stats["observations"] < 1:
        return "observations below 1"
    return None
