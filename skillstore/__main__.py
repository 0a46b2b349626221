"""``python -m skillstore``: the same command line as the ``skillstore`` script."""

from skillstore.cli import main

if __name__ == "__main__":
    main(prog_name="skillstore")
