"""``python -m agent``: the same commands as ``skillstore-agent``."""

from agent.cli import main

if __name__ == "__main__":
    main(prog_name="skillstore-agent")
