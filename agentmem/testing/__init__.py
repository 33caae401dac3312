"""Test tables shared by agentmem's own tests and by the adapters' tests."""
