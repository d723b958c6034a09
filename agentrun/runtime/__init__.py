"""The agent loop, resume rules, budgets, approval and signals.

Uses models, tools, store and core; never typer or rich (progress goes through a callback).
"""
