"""Coverage-guided fuzzing (atheris) of modwatch's input parsers and text normaliser.

See ``fuzz/fuzz_inputs.py`` and SECURITY.md ("Crashing the worker with malformed input").
"""
