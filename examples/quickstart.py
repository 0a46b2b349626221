"""The README's API example: create a store, add skills, search, record outcomes, reopen.

Run it with `python examples/quickstart.py [STORE_DIR]`.
"""

import sys
import tempfile

from skillstore import Skill, SkillStore

path = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp() + "/skills"

with SkillStore.open(path, dim=4, dedup_threshold=0.95) as store:
    fetch = store.add(
        Skill(
            name="acquire_key",
            actions=["move_right", "move_right", "move_up", "move_up", "pickup_key"],
            embedding=[1.0, 0.0, 0.2, 0.0],
            preconditions={"has_key": False, "agent_pos": (0, 0)},
            metadata={"layout": "fixed"},
        )
    )
    store.add_many(
        [
            Skill("open_door_sequence", ["move_right", "move_up", "open_door"], [0.0, 1.0, 0.2, 0.0],
                  preconditions={"has_key": True, "door_open": False}),
            Skill("reach_goal", ["move_right", "move_up"], [0.0, 0.0, 1.0, 1.0],
                  preconditions={"door_open": True}),
        ]
    )
    # Learning the same skill again merges it instead of storing a copy.
    assert store.add(Skill("acquire_key", ["..."], [1.0, 0.0, 0.21, 0.0],
                           preconditions={"has_key": False, "agent_pos": (0, 0)})) == fetch

    state = {"agent_pos": (0, 0), "has_key": False, "door_open": False}
    for match in store.search([1.0, 0.1, 0.2, 0.0], k=3, state=state):
        print(f"applicable: {match.skill.name:<20} cosine={match.score:.3f}")

    store.record_outcome(fetch, success=True, reward=0.5)
    store.record_outcome(fetch, success=False)

with SkillStore.open(path) as store:  # everything acknowledged survived the restart
    skill = store.get(fetch)
    print(f"after reopen: {skill.name} attempts={skill.stats.attempts} "
          f"success_rate={skill.stats.success_rate:.2f} observations={skill.stats.observations}")
    print({k: v for k, v in store.stats().items() if k in ("total_skills", "total_uses", "avg_success_rate")})
