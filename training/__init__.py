"""Training jobs: `python -m training generate|train|promote|rollback|list`."""
