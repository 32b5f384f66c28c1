"""The `tagport` command line (Typer + Rich), thin over the services."""
