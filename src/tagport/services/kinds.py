"""Every catalog kind and the service that stores it: the one table `catalog.service_for` reads."""

from __future__ import annotations

from typing import Any

from tagport.services.applications import ApplicationService
from tagport.services.audiences import AudienceGroupService
from tagport.services.catalog import KindService
from tagport.services.datasources import DataSourceService
from tagport.services.entities import EntityService
from tagport.services.projects import ProjectService, SecuritySettingsService
from tagport.services.tags import LookupTableService, TagService
from tagport.services.tasks import OfflineServiceKind
from tagport.services.users import UserService

SERVICES: dict[str, KindService[Any, Any]] = {
    service.kind: service
    for service in (
        UserService(),
        ProjectService(),
        SecuritySettingsService(),
        DataSourceService(),
        EntityService(),
        LookupTableService(),
        TagService(),
        AudienceGroupService(),
        ApplicationService(),
        OfflineServiceKind(),
    )
}
