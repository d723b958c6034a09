"""``python -m agentrun``: the same entry point as the ``agentrun`` console script."""

from agentrun.cli.app import main

main()
