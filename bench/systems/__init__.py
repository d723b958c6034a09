"""One driver per system for ``bench.compare``, each run in its own process.

``python -m bench.systems.<name> run ROOT N CAP`` runs N agent steps and prints one JSON line;
``python -m bench.systems.<name> load ROOT`` is the cold process that loads the latest state.
The drivers import nothing of each other, so a cold load pays only for its own system.
"""
