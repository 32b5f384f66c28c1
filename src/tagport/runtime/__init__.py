"""Long-running roles: the scheduler, workers, and the pipeline an instance runs."""
