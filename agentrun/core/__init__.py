"""The pure bottom layer: event types and their encoding, the state fold, ids, durations, errors.

Nothing here does I/O, reads a clock or imports another agentrun layer.
"""
