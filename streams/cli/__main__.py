"""``python -m streams.cli``: the ``modwatch`` command (the worker runs this way in tests and benchmarks)."""

from streams.cli import main

main()
