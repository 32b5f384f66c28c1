"""The metadata store: tables, the database handle, the unit of work and migrations."""
