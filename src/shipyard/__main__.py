"""``python -m shipyard``: the same as the ``shipyard`` command."""

from shipyard.cli.app import main

main()
