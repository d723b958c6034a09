"""The command line: typer commands, rich and JSON views, and the one error boundary."""
