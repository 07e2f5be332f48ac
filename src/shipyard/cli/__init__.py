"""The ``shipyard`` command: thin Typer commands that parse, call the API, render with rich.

Every listing takes ``--json``. Errors raised below reach ``app.main`` once, which
prints one line (``--debug`` for the traceback).
"""
