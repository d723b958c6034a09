"""Reliability tests: crash, fault and hostile-input proofs of the durability promises (issue 6)."""
