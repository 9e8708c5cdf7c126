"""The takedown core: what happens to a flagged item, pure Python.

The request lifecycle (``lifecycle``), strikes and account-level requests
(``accounts``), campaign grouping (``campaigns``), compliance statistics
(``compliance``: time to removal, Kaplan-Meier) and exports (``exports``: DSA
statements of reasons, Lumen notices). Nothing here imports Faust, Kafka,
aiohttp or prometheus-client (tests/test_structure.py): ``streams/`` is the
shell that feeds events in and publishes what comes out.
"""
