"""The HTTP API (`/api/v1`): FastAPI routes over the same services the CLI calls."""
