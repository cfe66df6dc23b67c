"""The contract's public cases as a table shared by every harness (local, eager, cluster)."""
