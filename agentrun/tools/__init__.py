"""Tools: the ``@tool`` decorator, schemas from signatures, ``ToolContext`` and built-in toolsets.

Uses only ``agentrun.core``.
"""
