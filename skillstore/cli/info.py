"""``skillstore info``: a store's facts as a table, JSON or CSV.

A directory's facts come from :func:`skillstore.peek` (the MANIFEST and the log,
nothing loaded); a server library has no MANIFEST, so its facts are what the
backend's ``stats()`` reports.
"""

from __future__ import annotations

from typing import Any

from skillstore import StoreInfo
from skillstore.cli.output import emit_mapping, human_bytes, iso_time


def emit_store_info(facts: StoreInfo, output: str) -> None:
    if output != "table":
        emit_mapping(facts.to_dict(), output)
        return
    emit_mapping(
        {
            "path": facts.path,
            "format version": facts.format_version,
            "dim": facts.dim,
            "metric": facts.metric,
            "index": facts.index_kind
            + (f" (using {facts.index_active})" if facts.index_active != facts.index_kind else "")
            + "".join(f", {key} {value}" for key, value in facts.index_params.items()),
            "embedder": embedder_line(facts.embedder),
            "skills": facts.skills,
            "generation": facts.generation,
            "log": f"{facts.log_frames} frames, {human_bytes(facts.log_bytes)}"
            + (f" (+{facts.torn_bytes} torn bytes)" if facts.torn_bytes else ""),
            "snapshot": f"{facts.snapshot_skills} skills, {human_bytes(facts.snapshot_bytes)}",
            "on disk": human_bytes(facts.bytes_on_disk),
            "created": iso_time(facts.created_at),
            "checkpointed": iso_time(facts.checkpointed_at or None),
        },
        output,
    )


def embedder_line(identity: dict[str, Any] | None) -> str:
    """``name (param value, ...)`` of a recorded embedder; "none" for a library without one."""
    if identity is None:
        return "none"
    params = ", ".join(f"{key} {value}" for key, value in identity["params"].items())
    return f"{identity['name']} ({params})" if params else identity["name"]


def emit_server_info(figures: dict[str, Any], output: str) -> None:
    """The facts of a PostgreSQL library, from its ``stats()``."""
    facts = {
        "url": figures["url"],
        "library": figures["library"],
        "backend": figures["backend"],
        "server_version": figures["server_version"],
        "dim": figures["dim"],
        "embedder": figures["embedder"],
        "index": figures["index"],
        "skills": figures["total_skills"],
        "precondition_signatures": figures["precondition_signatures"],
        "bytes_on_disk": figures["bytes_on_disk"],
    }
    if output == "table":
        facts["server_version"] = f"PostgreSQL {facts.pop('server_version')}"
        facts["bytes_on_disk"] = human_bytes(facts["bytes_on_disk"])
        facts["embedder"] = embedder_line(facts["embedder"])
        facts = {key.replace("_", " ").replace("bytes on disk", "on disk"): value for key, value in facts.items()}
    emit_mapping(facts, output)
