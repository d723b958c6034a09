"""Model providers: ``scripted`` (offline), ``openai`` (chat completions) and ``anthropic``.

Uses only ``agentrun.core``.
"""
