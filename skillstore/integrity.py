"""``SkillStore.verify``: an integrity report over a store's files and its loaded state."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from skillstore.codec import roundtrip
from skillstore.errors import SkillStoreError
from skillstore.preconditions import freeze
from skillstore.reports import VerifyReport
from skillstore.storage import log
from skillstore.storage.files import file_crc32
from skillstore.storage.manifest import GRAPH_FILE, Manifest, read_manifest

if TYPE_CHECKING:
    from skillstore.catalog import Catalog
    from skillstore.index import VectorIndex


def verify_store(
    path: Path, catalog: Catalog, index: VectorIndex, loaded: Manifest, rebuilt_graph: str | None = None
) -> VerifyReport:
    report = VerifyReport()
    _check_files(path, report)
    _check_memory(catalog, index, report)
    if rebuilt_graph is not None:
        report.warnings.append(
            f"HNSW graph rebuilt from the vectors when the store was opened ({rebuilt_graph});"
            " the next checkpoint writes it anew"
        )
    report.facts.update(
        {"skills": len(catalog), "rows": catalog.rows, "tombstones": catalog.tombstones,
         "loaded_generation": loaded.generation}
    )
    return report


_ATTEMPTS = 20  # checkpoints of other writers may replace the generation while we read it


def _check_files(path: Path, report: VerifyReport) -> None:
    """Check the files of the current generation; what a concurrent checkpoint removed
    under us is not damage, so the check starts again on the new generation."""
    for _ in range(_ATTEMPTS):
        trial = type(report)()
        generation = _check_generation(path, trial)
        current: int | None
        try:
            current = read_manifest(path).generation
        except (SkillStoreError, OSError):
            current = generation
        if generation == current or trial.ok:
            break
    report.problems += trial.problems
    report.warnings += trial.warnings
    report.facts.update(trial.facts)


def _check_generation(path: Path, report: VerifyReport) -> int | None:
    try:
        manifest = read_manifest(path)
    except (SkillStoreError, OSError) as exc:
        report.problems.append(f"MANIFEST: {exc}")
        return None
    report.facts["generation"] = manifest.generation
    report.facts["dim"] = manifest.dim
    for name, entry in manifest.files.items():
        file_path = path / manifest.snapshot_dir / name
        # the HNSW graph is derived from the vectors: a damaged one is rebuilt, nothing is lost
        found = report.warnings if name == GRAPH_FILE and manifest.format > 2 else report.problems
        try:
            if file_crc32(file_path) != (entry.size, entry.crc32):
                found.append(f"snapshot: {file_path}: size or checksum differs from the MANIFEST's")
        except (SkillStoreError, OSError) as exc:
            found.append(f"snapshot: {exc}")
    expected = log.LogHeader(manifest.store_id, manifest.generation, manifest.seq, 0)
    try:
        scan = log.scan(path / manifest.log_name, expected)
    except (SkillStoreError, OSError) as exc:
        report.problems.append(f"log: {exc}")
        return manifest.generation
    report.facts["log_frames"] = len(scan.frames)
    report.facts["log_bytes"] = scan.cursor.end
    if scan.torn_bytes:
        report.warnings.append(
            f"log: {scan.torn_bytes} bytes at the end form no frame: an unfinished append (never"
            " acknowledged), or damage to the last frames with nothing after it; the next write removes them"
        )
    return manifest.generation


def _check_memory(catalog: Catalog, index: VectorIndex, report: VerifyReport) -> None:
    if len(index) != catalog.rows:
        report.problems.append(f"index holds {len(index)} vectors for {catalog.rows} catalog rows")
        return
    live = catalog.live_rows()
    bad = 0
    for start in range(0, len(live), _CHUNK):
        vectors = index.gather(live[start : start + _CHUNK]).astype(np.float64)
        bad += int(np.count_nonzero(~(np.abs(np.linalg.norm(vectors, axis=1) - 1.0) <= 1e-3)))
    if bad:
        report.problems.append(f"{bad} stored vectors are not unit length")
    seen: set[str] = set()
    base = catalog.base
    metadata_entries = 0
    for row in live.tolist():
        try:
            record = catalog.record_at(row)
        except SkillStoreError as exc:
            report.problems.append(str(exc))
            continue
        problem = _record_problem(record)
        if record["id"] in seen:
            problem = "duplicate id"
        seen.add(record["id"])
        if row < base.n and base.find(record["id"]) != row:
            problem = "the id lookup of the snapshot does not find it"
        if row < base.n and not catalog.is_stale(row):
            metadata_entries += len(record["metadata"])
            for key, value in record["metadata"].items():
                frozen = freeze(value)
                # a value holding NaN equals nothing, not even a copy of itself: no lookup finds it
                if frozen == freeze(roundtrip(value)) and row not in base.metadata_rows(key, frozen):
                    problem = f"the metadata index lacks its {key!r}"
        if problem:
            report.problems.append(f"skill {record['id']!r}: {problem}")
    if base.n and len(base.metadata_postings()[1]) < metadata_entries:
        report.problems.append("the snapshot's metadata index holds fewer entries than the skills' metadata")


_CHUNK = 65536


def _record_problem(record: dict[str, Any]) -> str | None:
    stats = record["stats"]
    if min(stats["attempts"], stats["successes"], stats["failures"]) < 0:
        return "negative counter"
    if stats["successes"] + stats["failures"] != stats["attempts"]:
        return "successes + failures != attempts"
    if stats["observations"] < 1:
        return "observations below 1"
    return None
