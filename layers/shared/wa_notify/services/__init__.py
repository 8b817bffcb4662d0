"""Use cases: orchestrate domain rules and adapters for one handler each."""
