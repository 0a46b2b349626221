"""The GridWorld procedural-memory agent, the first user of skillstore.

``GridWorld`` is a Gymnasium environment (registered as ``skillstore/GridWorld-v0``);
MiniGrid's DoorKey is played through :mod:`agent.minigrid_adapter` (optional extra).
``StateEmbedder`` embeds a ``Situation`` (the world relative to the agent), and
``ProceduralMemoryAgent`` learns skills from its own episodes and keeps them in any
``skillstore`` backend.
Plots live in :mod:`agent.plots` so that importing this package never loads matplotlib.
"""

from agent.agent import EpisodeResult, ProceduralMemoryAgent
from agent.embedding import StateEmbedder
from agent.gridworld import ACTIONS, ENV_ID, GridWorld, register_env
from agent.minigrid_adapter import MiniGridDoorKey, register_doorkey
from agent.situation import Situation

register_env()
register_doorkey()

__all__ = [
    "ACTIONS",
    "ENV_ID",
    "EpisodeResult",
    "GridWorld",
    "MiniGridDoorKey",
    "ProceduralMemoryAgent",
    "Situation",
    "StateEmbedder",
    "register_env",
]
