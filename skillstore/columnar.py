"""The skills of a format-3 snapshot as read-only columns, and the encoder that writes them.

A snapshot holds three files (see ``storage.manifest``):

- ``vectors.f32``: the unit vectors, raw float32 rows: the source of truth for embeddings;
- ``columns.bin``: fixed-width columns (see ``storage.columns``): ids (a byte blob and
  offsets, plus their hashes sorted for lookup), counters, timestamps, each skill's
  current version number and lifecycle status (a code: 0 active, 1 candidate,
  2 deprecated), so that search filters and ranks without decoding a row, the offsets of
  each row's record, the precondition signature of each row with the rows of each
  signature (the persisted precondition index), the rows of each metadata (key, value)
  pair (the persisted metadata index), and a CRC-32 of every block of vector rows;
- ``records.bin``: each row's variable-size fields (its version history among them) as
  one msgpack array, decoded only when a caller asks for that row.

Opening maps the files and checks them as wholes, with vectorised checks of every
column (bounds, sortedness, the indexes against the row columns); nothing is decoded
per row. A row's record is checked with the public API's rules when it is decoded.
Rows are in creation order: the row number is the skill's place in iteration.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from skillstore.codec import pack, unpack
from skillstore.embedders import check_identity
from skillstore.errors import InvalidInputError, StoreCorruptError
from skillstore.preconditions import Signature, freeze, signature
from skillstore.records import MAX_ID_LENGTH, STATUS_CODES, STATUSES, check_stored_record
from skillstore.storage.columns import ColumnFileError, decode_columns, encode_columns
from skillstore.storage.files import crc32
from skillstore.storage.manifest import COLUMNS_FILE, RECORDS_FILE
from skillstore.text import document
from skillstore.validation import MAX_COUNTER, MAX_TIMESTAMP, MAX_TOTAL_REWARD

READ_CACHE_ROWS = 1024  # checked records kept for reading again (a few MB at most)
VECTOR_BLOCK_ROWS = 4096  # rows per CRC-32 of the vectors: damage is named to this precision
RECORD_FIELDS = ("name", "actions", "preconditions", "description", "metadata", "provenance", "history")
COUNTERS = ("attempts", "successes", "failures", "observations")
TIMES = ("total_reward", "last_used_at", "created_at", "updated_at")  # float64; a NaN last_used_at is None
_EMPTY = np.empty(0, dtype=np.int64)
COLUMN_DTYPES = {
    "ids": "|u1", "id_offsets": "<u8", "id_hashes": "<u8", "id_rows": "<i8", "record_offsets": "<u8",
    "names": "|u1", "name_offsets": "<u8",
    **{name: "<i8" for name in COUNTERS}, **{name: "<f8" for name in TIMES},
    "version": "<i8", "status": "<i8",  # the current version's number; the status code (STATUSES)
    "signature_of": "<i8", "signature_rows": "<i8", "signature_starts": "<i8", "signatures": "|u1",
    "metadata_rows": "<i8", "metadata_starts": "<i8", "metadata_pairs": "|u1", "vector_crcs": "<u4",
    "terms": "|u1", "term_starts": "<i8", "term_rows": "<i8", "term_counts": "<u4", "doc_lengths": "<u4",
    "dim": "<i8",  # one value: the dimension of the vectors, told even when there are none
}
# Written only by a store with an embedder (whose MANIFEST is of format 4, which the release
# before refuses anyway): the msgpack of the embedder's identity, so that the snapshot says
# which model made its vectors even when its MANIFEST is lost (repair reads it back).
EMBEDDER_COLUMN = "embedder"


def _exact_float(value: Any) -> bool:
    try:
        return isinstance(value, float) or float(value) == value
    except OverflowError:
        return False


def id_hash(skill_id: str) -> int:
    """A stable 64-bit hash of an id: the sorted lookup key (equal hashes are compared by id)."""
    return int.from_bytes(hashlib.blake2b(skill_id.encode("utf-8"), digest_size=8).digest(), "little")


def block_crcs(vectors: np.ndarray) -> np.ndarray:
    rows = len(vectors)
    return np.array(
        [crc32(vectors[start : start + VECTOR_BLOCK_ROWS].tobytes()) for start in range(0, rows, VECTOR_BLOCK_ROWS)],
        dtype=np.uint32,
    )


class Base:
    """A generation's skills, read-only, over the mapped snapshot files."""

    def __init__(self, dim: int, columns: dict[str, np.ndarray], records: Any, vectors: np.ndarray) -> None:
        self.dim = dim
        self.vectors = vectors
        self._c = columns
        self._records = memoryview(records).cast("B") if len(records) else memoryview(b"")
        self.n = len(columns["attempts"])
        self._ids = columns["ids"].data
        self.where = ""  # the records file, named in damage reports
        self.signatures: list[Signature] = []
        self.signature_entries: list[list[Any]] = []  # [keys, values] as decoded, beside their frozen form
        self._signature_codes: dict[Signature, int] = {}
        self._meta_codes: dict[tuple[str, Hashable], int] | None = None  # decoded when first queried
        self._key_codes: dict[str, list[tuple[int, Hashable]]] | None = None  # key -> its (code, value) pairs
        self._entry_codes = _EMPTY
        # key -> (codes, float64 values) of its numbers, and the ints no float64 holds
        self._key_numbers: dict[str, tuple[np.ndarray, np.ndarray, list[tuple[int, Hashable]]]] | None = None
        self._meta_counts: np.ndarray | None = None  # metadata index entries of each row, counted when first read
        self._term_codes: dict[str, int] | None = None  # the lexical index's terms, decoded when first searched
        self.embedder: dict[str, Any] | None = None  # the identity the columns record (set by load)
        self._read: dict[int, dict[str, Any]] = {}  # rows last read, checked (read_record)
        self._read_lock = threading.Lock()

    @classmethod
    def empty(cls, dim: int) -> Base:
        columns = {name: np.zeros(1 if name.endswith(("_offsets", "_starts")) else 0, dtype=dtype)
                   for name, dtype in COLUMN_DTYPES.items()}
        columns["signatures"] = columns["metadata_pairs"] = columns["terms"] = np.frombuffer(pack([]), dtype=np.uint8)
        columns["dim"] = np.array([dim], dtype=np.int64)
        return cls(dim, columns, b"", np.empty((0, dim), dtype=np.float32))

    @classmethod
    def load(cls, dim: int, column_bytes: Any, records: Any, vectors: np.ndarray, snapshot: str) -> Base:
        """Check the columns and build the small lookups (signatures); raises StoreCorruptError
        naming the file of ``snapshot`` (a directory) at fault."""
        where = os.path.join(snapshot, COLUMNS_FILE)
        try:
            columns = decode_columns(column_bytes)
        except ColumnFileError as exc:
            raise StoreCorruptError(f"columns: {exc}", where) from None
        try:
            base = cls(dim, _checked_columns(columns, len(records), len(vectors), dim), records, vectors)
            base._load_signatures()
        except _Invalid as exc:
            raise StoreCorruptError(f"columns: {exc}", where) from None
        base.embedder = embedder_of(columns, where)
        base.where = os.path.join(snapshot, RECORDS_FILE)
        return base

    # -- lookups -----------------------------------------------------------------------

    def id_at(self, row: int) -> str:
        offsets = self._c["id_offsets"]
        return bytes(self._ids[int(offsets[row]) : int(offsets[row + 1])]).decode("utf-8")

    def id_keys(self, rows: np.ndarray) -> np.ndarray:
        """The ids of ``rows`` as a NumPy bytes array (UTF-8, zero-padded: it sorts as the ids
        do, since an id holds no NUL), cut from the ids column without a Python loop."""
        offsets = self._c["id_offsets"]
        starts = offsets[rows].astype(np.int64)
        lengths = offsets[rows + 1].astype(np.int64) - starts
        width = int(lengths.max()) if len(rows) else 1
        if width > 4 * MAX_ID_LENGTH:  # only a damaged column: the rows' ids are read (and refused) one by one
            return np.array([self.id_at(int(row)).encode("utf-8") for row in rows])
        blob = self._c["ids"]
        if not len(blob):
            return np.zeros(len(rows), dtype="S1")
        positions = starts[:, None] + np.arange(max(width, 1))
        table = np.where(positions < (starts + lengths)[:, None], blob[np.minimum(positions, len(blob) - 1)], 0)
        return np.ascontiguousarray(table, dtype=np.uint8).view(f"S{max(width, 1)}").ravel()

    def find(self, skill_id: str) -> int:
        """The row of ``skill_id``, or -1."""
        hashes = self._c["id_hashes"]
        if not len(hashes):
            return -1
        key = np.uint64(id_hash(skill_id))
        position = int(np.searchsorted(hashes, key))
        while position < len(hashes) and hashes[position] == key:
            row = int(self._c["id_rows"][position])
            if self.id_at(row) == skill_id:
                return row
            position += 1
        return -1

    def counter(self, name: str) -> np.ndarray:
        return self._c[name]

    def stats(self, row: int) -> dict[str, Any]:
        c = self._c
        last_used = float(c["last_used_at"][row])
        return {
            **{name: int(c[name][row]) for name in COUNTERS},
            "total_reward": float(c["total_reward"][row]),
            "last_used_at": None if last_used != last_used else last_used,
        }

    def raw_record(self, row: int) -> memoryview:
        offsets = self._c["record_offsets"]
        return self._records[int(offsets[row]) : int(offsets[row + 1])]

    def read_record(self, row: int) -> dict[str, Any]:
        """Row ``row`` as :meth:`record` gives it, to read only: the rows read last are kept
        checked and decoded (a snapshot never changes), so reading a skill again costs only
        its copy out (``to_skill`` shares nothing with the record)."""
        record = self._read.get(row)
        if record is None:
            record = self.record(row)
            with self._read_lock:
                if len(self._read) >= READ_CACHE_ROWS:
                    self._read.pop(next(iter(self._read)))
                self._read[row] = record
        return record

    def record(self, row: int) -> dict[str, Any]:
        """Row ``row`` as a full record, checked as the public API checks a skill; a fresh one,
        which the caller may change."""
        try:
            fields = unpack(bytes(self.raw_record(row)))
            if not isinstance(fields, list) or len(fields) != len(RECORD_FIELDS):
                raise InvalidInputError(f"holds {type(fields).__name__}, not the {len(RECORD_FIELDS)} record fields")
            raw = dict(zip(RECORD_FIELDS, fields, strict=True))
            raw.update(id=self.id_at(row), stats=self.stats(row), created_at=float(self._c["created_at"][row]),
                       updated_at=float(self._c["updated_at"][row]), version=int(self._c["version"][row]),
                       status=STATUSES[int(self._c["status"][row])])
            record = check_stored_record(raw, self.dim)
        except (ValueError, TypeError, InvalidInputError) as exc:
            raise StoreCorruptError(f"record of row {row} is damaged: {exc}", self.where) from None
        offsets = self._c["name_offsets"]
        if bytes(self._c["names"].data[int(offsets[row]) : int(offsets[row + 1])]) != record["name"].encode("utf-8"):
            raise StoreCorruptError(f"row {row}: its name differs from the names column", self.where)
        stored = self.signatures[int(self._c["signature_of"][row])]
        if signature(record["preconditions"]) != stored and not _holds_nan(list(record["preconditions"].values())):
            raise StoreCorruptError(f"row {row}: preconditions differ from the precondition index", self.where)
        if self.find(record["id"]) != row:  # another row's id, or an id lookup that misses it
            raise StoreCorruptError(f"row {row}: the id lookup does not lead to this row", self.where)
        if not self._metadata_indexed(row, record["metadata"]):
            raise StoreCorruptError(f"row {row}: metadata differs from the metadata index", self.where)
        return record

    def _metadata_indexed(self, row: int, metadata: Mapping[str, Any]) -> bool:
        """Whether the metadata index lists ``row`` under exactly the pairs of its metadata."""
        if self._meta_counts is None:
            self._meta_counts = np.bincount(self._c["metadata_rows"], minlength=self.n)
        if int(self._meta_counts[row]) != len(metadata):
            return False
        for key, value in metadata.items():
            if _holds_nan(value):  # equal to no copy of itself: no lookup finds it, in any store
                continue
            rows = self.metadata_rows(key, freeze(value))  # sorted: a binary search
            at = int(np.searchsorted(rows, row))
            if at == len(rows) or int(rows[at]) != row:
                return False
        return True

    def signature_code(self, sig: Signature) -> int:
        return self._signature_codes.get(sig, -1)

    def signature_rows(self, code: int) -> np.ndarray:
        starts = self._c["signature_starts"]
        return self._c["signature_rows"][int(starts[code]) : int(starts[code + 1])]

    def metadata_rows(self, key: str, value: Hashable) -> np.ndarray:
        """Rows whose metadata holds ``key`` equal to the frozen ``value``."""
        if self._meta_codes is None:
            self._meta_codes = {(k, freeze(v)): code for code, (k, v) in enumerate(self.metadata_pairs())}
        code = self._meta_codes.get((key, value))
        if code is None:
            return _EMPTY
        starts = self._c["metadata_starts"]
        return self._c["metadata_rows"][int(starts[code]) : int(starts[code + 1])]

    def metadata_rows_matching(self, key: str, keep: Callable[[Hashable], bool]) -> np.ndarray:
        """Sorted rows whose metadata ``key`` holds a (frozen) value ``keep`` accepts: one test per
        distinct value, then one vectorised pass over the index's entries."""
        if self._key_codes is None:
            by_key: dict[str, list[tuple[int, Hashable]]] = {}
            for code, (k, v) in enumerate(self.metadata_pairs()):
                by_key.setdefault(k, []).append((code, freeze(v)))
            self._key_codes = by_key
            self._entry_codes = self.metadata_postings()[0]
        matched = [code for code, value in self._key_codes.get(key, []) if keep(value)]
        return self._rows_of_codes(matched)

    def metadata_rows_in_range(
        self, key: str, op: Callable[[Any, Any], Any], bound: float, keep: Callable[[Hashable], bool]
    ) -> np.ndarray:
        """``metadata_rows_matching(key, keep)`` for ``keep(v) == op(v, bound)`` on numbers (a bool
        counting as 0 or 1) and false otherwise, with ``bound`` a float: the key's distinct numbers
        are compared in one vectorised step (ints no float64 holds, if any, one by one)."""
        if self._key_numbers is None:
            self.metadata_rows_matching("", lambda _: False)  # decodes the pairs once
            assert self._key_codes is not None
            numbers: dict[str, tuple[np.ndarray, np.ndarray, list[tuple[int, Hashable]]]] = {}
            for k, pairs in self._key_codes.items():
                numeric = [(c, v) for c, v in pairs if isinstance(v, bool | int | float) and v == v]
                exact = [(c, float(v)) for c, v in numeric if _exact_float(v)]
                numbers[k] = (np.array([c for c, _ in exact], dtype=np.int64), np.array([v for _, v in exact]),
                              [(c, v) for c, v in numeric if not _exact_float(v)])
            self._key_numbers = numbers
        codes, values, inexact = self._key_numbers.get(key, (_EMPTY, np.empty(0), []))
        return self._rows_of_codes(codes[op(values, bound)].tolist() + [c for c, v in inexact if keep(v)])

    def _rows_of_codes(self, matched: list[int]) -> np.ndarray:
        if not matched:
            return _EMPTY
        wanted = np.zeros(len(self._c["metadata_starts"]) - 1, dtype=bool)
        wanted[matched] = True
        return np.unique(self._c["metadata_rows"][wanted[self._entry_codes]])

    def metadata_key_rows(self, key: str) -> np.ndarray:
        """Rows whose metadata holds ``key``, whatever its value (NaN included), sorted."""
        starts, rows = self._c["metadata_starts"], self._c["metadata_rows"]
        parts = [rows[int(starts[code]) : int(starts[code + 1])]
                 for code, (k, _) in enumerate(self.metadata_pairs()) if k == key]
        return np.unique(np.concatenate(parts)) if parts else _EMPTY

    def term_postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows, counts) of the snapshot's rows whose document holds ``term``."""
        if self._term_codes is None:
            self._term_codes = {t: code for code, t in enumerate(self.terms())}
        code = self._term_codes.get(term)
        if code is None:
            return _EMPTY, _EMPTY
        start, stop = int(self._c["term_starts"][code]), int(self._c["term_starts"][code + 1])
        return self._c["term_rows"][start:stop], self._c["term_counts"][start:stop]

    def terms(self) -> list[str]:
        terms = unpack(self._c["terms"].tobytes())
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise StoreCorruptError("the lexical index's terms are malformed", self.where)
        if len(terms) != len(self._c["term_starts"]) - 1:
            raise StoreCorruptError("the lexical index's terms do not match their postings", self.where)
        return terms

    def names(self) -> list[str]:
        """Every row's name, in row order."""
        blob, offsets = self._c["names"].tobytes(), self._c["name_offsets"].tolist()
        return [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(self.n)]

    def metadata_pairs(self) -> list[tuple[str, Any]]:
        pairs = unpack(self._c["metadata_pairs"].tobytes())
        return [(key, value) for key, value in pairs]

    def metadata_postings(self) -> tuple[np.ndarray, np.ndarray]:
        """(pair code, row) of every metadata entry."""
        starts = self._c["metadata_starts"]
        codes = np.repeat(np.arange(len(starts) - 1, dtype=np.int64), np.diff(starts))
        return codes, self._c["metadata_rows"]

    def _load_signatures(self) -> None:
        try:
            raw = unpack(self._c["signatures"].tobytes())
            if not isinstance(raw, list) or len(raw) != len(self._c["signature_starts"]) - 1:
                raise _Invalid("the precondition signatures do not match their index")
            for entry in raw:
                if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], list):
                    raise _Invalid("a precondition signature is malformed")
                preconditions = dict(zip(entry[0], entry[1], strict=True))
                sig = signature(preconditions)
                self.signature_entries.append(entry)  # as stored: the next snapshot writes them again
                if sig in self._signature_codes:
                    raise _Invalid("a precondition signature is listed twice")
                self._signature_codes[sig] = len(self.signatures)
                self.signatures.append(sig)
            pairs = unpack(self._c["metadata_pairs"].tobytes())
            if not isinstance(pairs, list) or len(pairs) != len(self._c["metadata_starts"]) - 1:
                raise _Invalid("the metadata pairs do not match their index")
            if not all(type(pair) is list and len(pair) == 2 and type(pair[0]) is str for pair in pairs):
                raise _Invalid("a metadata pair is not [key, value]")
            terms = unpack(self._c["terms"].tobytes())  # checked here, decoded again when first searched
            if not isinstance(terms, list) or len(terms) != len(self._c["term_starts"]) - 1:
                raise _Invalid("the lexical index's terms do not match their postings")
            if not all(type(term) is str for term in terms) or len(set(terms)) != len(terms):
                raise _Invalid("the lexical index's terms are not distinct strings")
        except (ValueError, TypeError) as exc:
            raise _Invalid(f"index dictionaries cannot be decoded: {exc}") from None


class _Invalid(Exception):
    pass


def _holds_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value
    if isinstance(value, list | tuple):
        return any(_holds_nan(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_nan(v) for v in value.values())
    return False


def embedder_of(columns: Mapping[str, np.ndarray], where: str) -> dict[str, Any] | None:
    """The embedder identity the columns of the file ``where`` record, or None."""
    if EMBEDDER_COLUMN not in columns:
        return None
    column = columns[EMBEDDER_COLUMN]
    try:
        if column.dtype.str != "|u1" or column.ndim != 1:
            raise InvalidInputError(f"dtype {column.dtype.str}")
        return check_identity(unpack(column.tobytes()))
    except (ValueError, TypeError) as exc:  # InvalidInputError is a ValueError
        raise StoreCorruptError(f"columns: {EMBEDDER_COLUMN}: {exc}", where) from None


def _checked_columns(c: dict[str, np.ndarray], records_size: int, vector_rows: int, dim: int) -> dict[str, np.ndarray]:
    """The columns, checked with vectorised tests only (no per-row Python work)."""
    expected = COLUMN_DTYPES
    if set(c) - {EMBEDDER_COLUMN} != set(expected):
        raise _Invalid(f"hold {sorted(c)}, expected {sorted(expected)}")
    for name, dtype in expected.items():
        if c[name].dtype.str != dtype or c[name].ndim != 1:
            raise _Invalid(f"{name} has dtype {c[name].dtype.str} and {c[name].ndim} dimensions")
    if c["dim"].tolist() != [dim]:
        raise _Invalid(f"describe vectors of dimension {c['dim'].tolist()[:2]}, the MANIFEST says {dim}")
    n = len(c["attempts"])
    for name in ("id_hashes", "id_rows", *COUNTERS, *TIMES, "version", "status", "signature_of", "signature_rows"):
        if len(c[name]) != n:
            raise _Invalid(f"{name} holds {len(c[name])} values for {n} rows")
    if vector_rows != n:
        raise _Invalid(f"{vector_rows} vectors for {n} rows")
    if len(c["vector_crcs"]) != -(-n // VECTOR_BLOCK_ROWS):
        raise _Invalid("vector block checksums do not match the rows")
    _check_offsets(c["id_offsets"], n, len(c["ids"]), "id_offsets")
    _check_offsets(c["record_offsets"], n, records_size, "record_offsets")
    _check_offsets(c["name_offsets"], n, len(c["names"]), "name_offsets")
    lengths = np.diff(c["id_offsets"].astype(np.int64))
    if n and (lengths.min() < 1 or lengths.max() > 4 * 256):
        raise _Invalid("an id is empty or too long")
    if np.any(c["ids"] == 0):
        raise _Invalid("an id holds NUL")
    _check_utf8(c["ids"], c["id_offsets"], "ids")
    _check_utf8(c["names"], c["name_offsets"], "names")
    if n and not bool(np.all(c["id_hashes"][1:] >= c["id_hashes"][:-1])):
        raise _Invalid("id hashes are not sorted")
    _check_permutation(c["id_rows"], n, "id_rows")
    counts = {name: c[name] for name in COUNTERS}
    for name, values in counts.items():
        if n and (values.min() < 0 or values.max() > MAX_COUNTER):
            raise _Invalid(f"{name} out of range")
    if np.any(counts["successes"] + counts["failures"] != counts["attempts"]) or np.any(counts["observations"] < 1):
        raise _Invalid("counters are inconsistent (successes + failures != attempts, or no observation)")
    if n and (c["version"].min() < 1 or c["version"].max() > MAX_COUNTER):
        raise _Invalid("version out of range")
    if n and (c["status"].min() < 0 or c["status"].max() >= len(STATUSES)):
        raise _Invalid("a status code is out of range")
    reward = c["total_reward"]
    if not bool(np.all(np.abs(reward) <= MAX_TOTAL_REWARD)) or np.any((reward != 0) & (counts["attempts"] == 0)):
        raise _Invalid("total_reward out of range, or set without attempts")
    for name in ("created_at", "updated_at", "last_used_at"):
        values = c[name]
        bad = ~((values >= 0) & (values <= MAX_TIMESTAMP))
        if name == "last_used_at":
            bad &= ~np.isnan(values)
        if np.any(bad):
            raise _Invalid(f"{name} holds a value that is not a timestamp")
    signatures = len(c["signature_starts"]) - 1
    _check_postings(c["signature_starts"], c["signature_rows"], n, "signature", exact=True)
    if n and (c["signature_of"].min() < 0 or c["signature_of"].max() >= signatures):
        raise _Invalid("a row's precondition signature is out of range")
    codes = np.repeat(np.arange(signatures, dtype=np.int64), np.diff(c["signature_starts"]))
    if not np.array_equal(c["signature_of"][c["signature_rows"]], codes):
        raise _Invalid("the precondition index disagrees with the rows' signatures")
    _check_postings(c["metadata_starts"], c["metadata_rows"], n, "metadata", exact=False)
    _check_postings(c["term_starts"], c["term_rows"], n, "lexical", exact=False)
    if len(c["doc_lengths"]) != n or len(c["term_counts"]) != len(c["term_rows"]):
        raise _Invalid("the lexical index's counts or document lengths do not match the rows")
    if len(c["term_counts"]) and c["term_counts"].min() < 1:
        raise _Invalid("the lexical index holds a term counted zero times")
    totals = np.bincount(c["term_rows"], weights=c["term_counts"], minlength=n) if n else np.zeros(0)
    if not np.array_equal(totals, c["doc_lengths"].astype(np.float64)):
        raise _Invalid("the lexical index's counts do not add up to the document lengths")
    return c


def _check_offsets(offsets: np.ndarray, n: int, size: int, name: str) -> None:
    if len(offsets) != n + 1 or offsets[0] != 0 or int(offsets[-1]) != size:
        raise _Invalid(f"{name} do not span their data")
    if n and not bool(np.all(offsets[1:] >= offsets[:-1])):
        raise _Invalid(f"{name} are not increasing")


def _check_utf8(blob: np.ndarray, offsets: np.ndarray, name: str) -> None:
    """Each string of ``blob`` (cut at increasing ``offsets``) is UTF-8 on its own: the blob
    decodes, and no string starts inside a character."""
    starts = offsets[:-1][offsets[1:] > offsets[:-1]]
    if np.any((blob[starts] & 0xC0) == 0x80):
        raise _Invalid(f"{name}: a string starts inside a character")
    if not len(blob) or int(blob.max()) < 0x80:
        return  # ASCII, the common case (ids are hex), is UTF-8: no need to build the string
    try:
        codecs.utf_8_decode(blob.data, "strict", True)
    except UnicodeDecodeError as exc:
        raise _Invalid(f"{name} are not UTF-8 (byte {exc.start})") from None


def _check_permutation(rows: np.ndarray, n: int, name: str) -> None:
    if n and (rows.min() < 0 or rows.max() >= n or np.count_nonzero(np.bincount(rows, minlength=n)) != n):
        raise _Invalid(f"{name} is not a permutation of the rows")


def _check_postings(starts: np.ndarray, rows: np.ndarray, n: int, name: str, *, exact: bool) -> None:
    """CSR postings: ``starts`` increasing over ``rows``; rows in range and sorted within each
    group; every row exactly once when ``exact``."""
    if not len(starts) or starts[0] != 0 or starts[-1] != len(rows) or np.any(np.diff(starts) < 1):
        raise _Invalid(f"the {name} index offsets are malformed")
    if len(rows) and (rows.min() < 0 or rows.max() >= n):
        raise _Invalid(f"the {name} index names a row out of range")
    if exact:
        _check_permutation(rows, n, f"the {name} index")
    step = np.diff(rows)
    group_start = np.zeros(len(rows), dtype=bool)
    group_start[starts[:-1][starts[:-1] < len(rows)]] = True
    if len(step) and np.any((step <= 0) & ~group_start[1:]):
        raise _Invalid(f"the {name} index rows are not sorted within a group")


@dataclass
class EncodedBase:
    """A snapshot's three files, ready to write."""

    columns: bytes
    records: bytes
    vectors: np.ndarray


def encode_base(
    base: Base, rows: np.ndarray, changed: Mapping[int, Mapping[str, Any]], vectors: np.ndarray,
    embedder: dict[str, Any] | None = None,
) -> EncodedBase:
    """The files of a snapshot of ``rows`` (in this order, renumbered 0..): a row of ``base``
    not in ``changed`` is copied as it is, without decoding it; every other row is the record
    ``changed`` holds for it. ``vectors`` are the rows' vectors, in the same order;
    ``embedder`` the identity of the embedder that made them, if any."""
    n = len(rows)
    rows = np.asarray(rows, dtype=np.int64)
    clean = rows < base.n
    if changed:
        clean &= ~np.isin(rows, np.fromiter(changed, dtype=np.int64, count=len(changed)))
    dirty = np.flatnonzero(~clean)
    records = [changed[int(rows[i])] for i in dirty]
    old = rows[clean]
    c = base._c

    ids = [b""] * n
    names = [b""] * n
    packed: list[bytes | memoryview] = [b""] * n
    name_blob, name_offsets = c["names"].data, c["name_offsets"]
    for position, row in zip(np.flatnonzero(clean).tolist(), old.tolist(), strict=True):
        ids[position] = bytes(base._ids[int(c["id_offsets"][row]) : int(c["id_offsets"][row + 1])])
        names[position] = bytes(name_blob[int(name_offsets[row]) : int(name_offsets[row + 1])])
        packed[position] = base.raw_record(row)
    for position, record in zip(dirty.tolist(), records, strict=True):
        ids[position] = record["id"].encode("utf-8")
        names[position] = record["name"].encode("utf-8")
        packed[position] = pack_fields(record)
    hashes = np.empty(n, dtype=np.uint64)
    if len(old):
        hash_of_row = np.empty(base.n, dtype=np.uint64)
        hash_of_row[c["id_rows"]] = c["id_hashes"]
        hashes[clean] = hash_of_row[old]
    hashes[dirty] = np.fromiter((id_hash(r["id"]) for r in records), dtype=np.uint64, count=len(records))
    order = np.argsort(hashes, kind="stable")
    columns: dict[str, np.ndarray] = {
        "ids": np.frombuffer(b"".join(ids), dtype=np.uint8),
        "id_offsets": _offsets(len(i) for i in ids),
        "id_hashes": hashes[order],
        "id_rows": order.astype(np.int64),
        "record_offsets": _offsets(len(p) for p in packed),
        "names": np.frombuffer(b"".join(names), dtype=np.uint8),
        "name_offsets": _offsets(len(name) for name in names),
    }
    stats = [r["stats"] for r in records]
    for name in (*COUNTERS, "total_reward"):
        column = np.empty(n, dtype=np.float64 if name == "total_reward" else np.int64)
        column[clean] = c[name][old]
        column[dirty] = [s[name] for s in stats]
        columns[name] = column
    last_used = np.empty(n, dtype=np.float64)
    last_used[clean] = c["last_used_at"][old]
    last_used[dirty] = [np.nan if s["last_used_at"] is None else s["last_used_at"] for s in stats]
    columns["last_used_at"] = last_used
    for name in ("created_at", "updated_at"):
        column = np.empty(n, dtype=np.float64)
        column[clean] = c[name][old]
        column[dirty] = [r[name] for r in records]
        columns[name] = column
    for name, value_of in (("version", lambda r: r["version"]), ("status", lambda r: STATUS_CODES[r["status"]])):
        codes = np.empty(n, dtype=np.int64)
        codes[clean] = c[name][old]
        codes[dirty] = [value_of(r) for r in records]
        columns[name] = codes
    columns.update(_signature_columns(base, clean, old, dirty, records))
    columns.update(_metadata_columns(base, rows, clean, dirty, records))
    columns.update(_text_columns(base, rows, clean, dirty, records))
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(n, base.dim)
    columns["vector_crcs"] = block_crcs(vectors)
    columns["dim"] = np.array([base.dim], dtype=np.int64)
    if embedder is not None:
        columns[EMBEDDER_COLUMN] = np.frombuffer(pack(embedder), dtype=np.uint8)
    return EncodedBase(encode_columns(columns), b"".join(packed), vectors)


def pack_fields(record: Mapping[str, Any]) -> bytes:
    return pack([record[name] for name in RECORD_FIELDS])


def _offsets(lengths: Iterable[int]) -> np.ndarray:
    sizes = np.fromiter(lengths, dtype=np.uint64)
    offsets = np.zeros(len(sizes) + 1, dtype=np.uint64)
    np.cumsum(sizes, out=offsets[1:])
    return offsets


def _signature_columns(
    base: Base, clean: np.ndarray, old: np.ndarray, dirty: np.ndarray, records: list[Mapping[str, Any]]
) -> dict[str, np.ndarray]:
    """The precondition index: each row's signature code, and each code's rows. The base's
    signatures keep their codes; new ones follow; codes no row uses any more are dropped."""
    codes = dict(base._signature_codes)
    entries: list[list[Any]] = [list(entry) for entry in base.signature_entries]
    signature_of = np.empty(len(clean), dtype=np.int64)
    signature_of[clean] = base._c["signature_of"][old]
    for position, record in zip(dirty.tolist(), records, strict=True):
        given = record["preconditions"]
        sig = signature(given)
        code = codes.get(sig)
        if code is None:
            code = codes[sig] = len(entries)
            keys = sorted(given)
            entries.append([keys, [given[k] for k in keys]])
        signature_of[position] = code
    used, signature_of = np.unique(signature_of, return_inverse=True)
    signature_of = signature_of.astype(np.int64).reshape(-1)
    rows = np.argsort(signature_of, kind="stable").astype(np.int64)
    starts = np.zeros(len(used) + 1, dtype=np.int64)
    np.cumsum(np.bincount(signature_of, minlength=len(used)), out=starts[1:])
    return {
        "signature_of": signature_of,
        "signature_rows": rows,
        "signature_starts": starts,
        "signatures": np.frombuffer(pack([entries[int(code)] for code in used]), dtype=np.uint8),
    }


def _metadata_columns(
    base: Base, rows: np.ndarray, clean: np.ndarray, dirty: np.ndarray, records: list[Mapping[str, Any]]
) -> dict[str, np.ndarray]:
    """The metadata index: the rows of each (key, value) pair. The base's entries for rows
    copied as they are keep their pair codes; changed rows' entries are coded afresh."""
    pairs: list[list[Any]] = [[key, value] for key, value in base.metadata_pairs()] if base.n else []
    codes = {(key, freeze(value)): code for code, (key, value) in enumerate(pairs)}
    new_row_of = np.full(base.n, -1, dtype=np.int64)
    new_row_of[rows[clean]] = np.flatnonzero(clean)
    base_codes, base_rows = base.metadata_postings()
    kept = new_row_of[base_rows] >= 0
    entry_codes: list[int] = []
    entry_rows: list[int] = []
    for position, record in zip(dirty.tolist(), records, strict=True):
        for key, value in record["metadata"].items():
            frozen = (key, freeze(value))
            code = codes.get(frozen)
            if code is None:
                code = codes[frozen] = len(pairs)
                pairs.append([key, value])
            entry_codes.append(code)
            entry_rows.append(position)
    all_codes = np.concatenate([base_codes[kept], np.asarray(entry_codes, dtype=np.int64)])
    all_rows = np.concatenate([new_row_of[base_rows[kept]], np.asarray(entry_rows, dtype=np.int64)])
    used, all_codes = np.unique(all_codes, return_inverse=True)
    all_codes = all_codes.astype(np.int64).reshape(-1)
    order = np.lexsort((all_rows, all_codes))
    starts = np.zeros(len(used) + 1, dtype=np.int64)
    np.cumsum(np.bincount(all_codes, minlength=len(used)), out=starts[1:])
    return {
        "metadata_rows": all_rows[order],
        "metadata_starts": starts,
        "metadata_pairs": np.frombuffer(pack([pairs[int(code)] for code in used]), dtype=np.uint8),
    }


def _text_columns(
    base: Base, rows: np.ndarray, clean: np.ndarray, dirty: np.ndarray, records: list[Mapping[str, Any]]
) -> dict[str, np.ndarray]:
    """The lexical index: the rows holding each term with their counts, and each row's
    document length. Rows copied as they are keep their postings; changed rows are tokenized."""
    terms: list[str] = base.terms() if base.n else []
    codes = {term: code for code, term in enumerate(terms)}
    new_row_of = np.full(base.n, -1, dtype=np.int64)
    new_row_of[rows[clean]] = np.flatnonzero(clean)
    starts = base._c["term_starts"]
    base_codes = np.repeat(np.arange(len(starts) - 1, dtype=np.int64), np.diff(starts))
    base_rows, base_counts = base._c["term_rows"], base._c["term_counts"]
    kept = new_row_of[base_rows] >= 0
    lengths = np.zeros(len(rows), dtype=np.uint32)
    lengths[clean] = base._c["doc_lengths"][rows[clean]]
    entry_codes: list[int] = []
    entry_rows: list[int] = []
    entry_counts: list[int] = []
    for position, record in zip(dirty.tolist(), records, strict=True):
        counts = document(record)
        lengths[position] = sum(counts.values())
        for term, count in counts.items():
            code = codes.get(term)
            if code is None:
                code = codes[term] = len(terms)
                terms.append(term)
            entry_codes.append(code)
            entry_rows.append(position)
            entry_counts.append(count)
    all_codes = np.concatenate([base_codes[kept], np.asarray(entry_codes, dtype=np.int64)])
    all_rows = np.concatenate([new_row_of[base_rows[kept]], np.asarray(entry_rows, dtype=np.int64)])
    all_counts = np.concatenate([base_counts[kept], np.asarray(entry_counts, dtype=np.uint32)])
    used, all_codes = np.unique(all_codes, return_inverse=True)
    all_codes = all_codes.astype(np.int64).reshape(-1)
    order = np.lexsort((all_rows, all_codes))
    term_starts = np.zeros(len(used) + 1, dtype=np.int64)
    np.cumsum(np.bincount(all_codes, minlength=len(used)), out=term_starts[1:])
    return {
        "terms": np.frombuffer(pack([terms[int(code)] for code in used]), dtype=np.uint8),
        "term_starts": term_starts,
        "term_rows": all_rows[order],
        "term_counts": all_counts[order].astype(np.uint32),
        "doc_lengths": lengths,
    }


def damaged_blocks(vectors: np.ndarray, expected: np.ndarray) -> list[tuple[int, int]]:
    """(first row, last row) of each block of vectors whose CRC-32 differs from ``expected``."""
    found = block_crcs(vectors)
    bad = np.flatnonzero(found != expected[: len(found)])
    return [(int(b) * VECTOR_BLOCK_ROWS, min(len(vectors), (int(b) + 1) * VECTOR_BLOCK_ROWS) - 1) for b in bad]
