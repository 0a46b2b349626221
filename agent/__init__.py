"""The GridWorld procedural-memory agent, the first user of skillstore.

``GridWorld`` is a Gymnasium environment (registered as ``skillstore/GridWorld-v0``),
``StateEmbedder`` a deterministic embedder, and ``ProceduralMemoryAgent`` learns
skills from its successful episodes and keeps them in any ``skillstore`` backend.
Plots live in :mod:`agent.plots` so that importing this package never loads matplotlib.
"""

from agent.agent import EpisodeResult, ProceduralMemoryAgent
from agent.embedding import StateEmbedder
from agent.gridworld import ACTIONS, ENV_ID, GridWorld, register_env

register_env()

__all__ = [
    "ACTIONS",
    "ENV_ID",
    "EpisodeResult",
    "GridWorld",
    "ProceduralMemoryAgent",
    "StateEmbedder",
    "register_env",
]
