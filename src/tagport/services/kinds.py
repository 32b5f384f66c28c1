"""Imports the service of every kind so that `catalog.service_for` finds them all."""

from tagport.services import (  # noqa: F401
    applications,
    audiences,
    datasources,
    entities,
    projects,
    tags,
    tasks,
    users,
)
