"""The format-2 stores and their expected contents in this folder, as made by the release that
wrote format 2: `PYTHONPATH=<that release> python make_format2_stores.py tests/store/data`."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from skillstore import Skill, SkillStore

out = Path(sys.argv[1])
rng = np.random.default_rng(7)
DIM = 8
queries = rng.normal(size=(6, DIM))
result = {}
for kind in ("flat", "hnsw"):
    path = out / f"format2-{kind}-store"
    shutil.rmtree(path, ignore_errors=True)
    with SkillStore.open(path, dim=DIM, index=kind) as store:
        ids = store.add_many([
            Skill(f"skill {i}", [f"a{i}", i, {"k": [i, 2.5]}], rng.normal(size=DIM),
                  preconditions={"room": i % 3, "pos": [i % 2, 1]} if i % 4 else {},
                  description=f"does thing {i}", metadata={"tier": i % 2, "owner": ["ops", "dev"][i % 2]})
            for i in range(40)])
        for i in range(0, 40, 3):
            store.record_outcome(ids[i], i % 2 == 0, reward=float(i))
        store.delete(ids[5])
        store.update(ids[6], name="renamed six", metadata={"tier": 9})
        store.checkpoint()  # the snapshot holds the above; the log what follows
        late = [Skill(f"late {i}", ["x"], rng.normal(size=DIM), preconditions={"room": 1}) for i in range(5)]
        more = store.add_many(late)
        store.update(ids[7], embedding=rng.normal(size=DIM))
        store.record_outcome(more[0], True, reward=2.0)
        store.record_outcome(ids[8], False)
        store.delete(ids[9])
        contents = {
            s.id: {"name": s.name, "actions": s.actions, "embedding": [float(x) for x in s.embedding],
                   "preconditions": {k: list(v) if isinstance(v, tuple) else v for k, v in s.preconditions.items()},
                   "description": s.description, "metadata": s.metadata, "stats": s.stats.to_dict(),
                   "created_at": s.created_at, "updated_at": s.updated_at}
            for s in store}
        searches = []
        for q in queries:
            for state, where in ((None, None), ({"room": 1, "pos": [1, 1]}, None), (None, {"tier": 1})):
                hits = store.search(q, k=4, state=state, where=where)
                searches.append({"query": [float(x) for x in q], "state": state, "where": where,
                                 "ids": [m.skill.id for m in hits], "scores": [m.score for m in hits]})
        result[kind] = {"contents": contents, "searches": searches}
(out / "format2-expected.json").write_text(json.dumps(result, indent=1, sort_keys=True))
