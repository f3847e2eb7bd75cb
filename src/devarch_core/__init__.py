"""devarch: isolated local multi-container stacks from one template catalog — the pure core.

Most callers want the facade, built with the adapters by ``devarch_adapters.connect()``::

    import devarch_adapters

    da = devarch_adapters.connect()               # ~/.devarch, SQLite, Docker or Podman
    da.create_stack("shop")
    da.add_instance("shop", "db", "postgres")
    print(da.plan("shop").render_text())
    da.apply("shop")

Tools that bring their own adapters build :class:`Devarch` directly from objects satisfying the
ports in :mod:`devarch_core.ports`; in-memory fakes live in :mod:`devarch_core.testing`.
Importing this package loads no driver (docker, psycopg, sqlite3, requests) and nothing else
either: each public name is imported from its private module on first use (PEP 562), so
``import devarch_core`` stays cheap for the CLI and for tools that need one name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, eagerly, for type checkers and IDEs
    from devarch_core._svg import SvgGraph
    from devarch_core.app import (
        ApplyResult,
        Devarch,
        DownResult,
        InstanceStatus,
        StackSummary,
        SystemClock,
    )
    from devarch_core.catalog import Catalog, builtin_catalog, parse_template_text
    from devarch_core.compose_import import ComposeImport, template_to_yaml, templates_from_compose
    from devarch_core.engine import (
        ContainerInfo,
        ContainerSpec,
        EngineInfo,
        ImageInfo,
        LogLine,
        Mount,
        NetworkInfo,
        PublishedPort,
        VolumeInfo,
    )
    from devarch_core.errors import (
        ApplyError,
        ConflictError,
        DevarchError,
        EngineError,
        InvalidNameError,
        ManifestError,
        NotFoundError,
        PortConflictError,
        Problem,
        SecretError,
        StackLockedError,
        StalePlanError,
        StoreError,
        TemplateError,
        ValidationError,
        WiringError,
    )
    from devarch_core.manifest import Lockfile, Manifest
    from devarch_core.merge import EffectiveConfig, WireInjection, resolve
    from devarch_core.model import Instance, PortAllocation, Stack, Wire
    from devarch_core.naming import (
        container_name,
        network_name,
        slugify,
        validate_name,
        volume_name,
    )
    from devarch_core.overrides import Overrides
    from devarch_core.planning import Action, FieldChange, Plan, PlanDiagnostic
    from devarch_core.ports import (
        AppliedRecord,
        Clock,
        ConfigFiles,
        KeyProvider,
        PortProbe,
        Reporter,
        Runtime,
        SealedSecret,
        StackLock,
        Store,
        StoreSession,
    )
    from devarch_core.rendering import wiring_graph
    from devarch_core.reporting import NullReporter, RecordingReporter
    from devarch_core.secrets import Secret
    from devarch_core.spec import (
        ConfigFile,
        Healthcheck,
        PortSpec,
        Resources,
        ServiceSpec,
        VolumeSpec,
    )
    from devarch_core.status import StatusReport
    from devarch_core.template import Export, Import, Template
    from devarch_core.usecases.manifests import ImportResult
    from devarch_core.wiring import WiringPlan, solve_wiring

__version__ = "0.1.0"

__all__ = [
    "Action",
    "AppliedRecord",
    "ApplyError",
    "ApplyResult",
    "Catalog",
    "Clock",
    "ComposeImport",
    "ConfigFile",
    "ConfigFiles",
    "ConflictError",
    "ContainerInfo",
    "ContainerSpec",
    "Devarch",
    "DevarchError",
    "DownResult",
    "EffectiveConfig",
    "EngineError",
    "EngineInfo",
    "Export",
    "FieldChange",
    "Healthcheck",
    "ImageInfo",
    "Import",
    "ImportResult",
    "Instance",
    "InstanceStatus",
    "InvalidNameError",
    "KeyProvider",
    "Lockfile",
    "LogLine",
    "Manifest",
    "ManifestError",
    "Mount",
    "NetworkInfo",
    "NotFoundError",
    "NullReporter",
    "Overrides",
    "Plan",
    "PlanDiagnostic",
    "PortAllocation",
    "PortConflictError",
    "PortProbe",
    "PortSpec",
    "Problem",
    "PublishedPort",
    "RecordingReporter",
    "Reporter",
    "Resources",
    "Runtime",
    "SealedSecret",
    "Secret",
    "SecretError",
    "ServiceSpec",
    "Stack",
    "StackLock",
    "StackLockedError",
    "StackSummary",
    "StalePlanError",
    "StatusReport",
    "Store",
    "StoreError",
    "StoreSession",
    "SvgGraph",
    "SystemClock",
    "Template",
    "TemplateError",
    "ValidationError",
    "VolumeInfo",
    "VolumeSpec",
    "Wire",
    "WireInjection",
    "WiringError",
    "WiringPlan",
    "builtin_catalog",
    "container_name",
    "network_name",
    "parse_template_text",
    "resolve",
    "slugify",
    "solve_wiring",
    "template_to_yaml",
    "templates_from_compose",
    "validate_name",
    "volume_name",
    "wiring_graph",
]

#: Where each public name lives; ``__getattr__`` imports the module on first access.
_LAZY: dict[str, str] = {
    "Action": "devarch_core.planning",
    "AppliedRecord": "devarch_core.ports",
    "ApplyError": "devarch_core.errors",
    "ApplyResult": "devarch_core.app",
    "Catalog": "devarch_core.catalog",
    "Clock": "devarch_core.ports",
    "ComposeImport": "devarch_core.compose_import",
    "ConfigFile": "devarch_core.spec",
    "ConfigFiles": "devarch_core.ports",
    "ConflictError": "devarch_core.errors",
    "ContainerInfo": "devarch_core.engine",
    "ContainerSpec": "devarch_core.engine",
    "Devarch": "devarch_core.app",
    "DevarchError": "devarch_core.errors",
    "DownResult": "devarch_core.app",
    "EffectiveConfig": "devarch_core.merge",
    "EngineError": "devarch_core.errors",
    "EngineInfo": "devarch_core.engine",
    "Export": "devarch_core.template",
    "FieldChange": "devarch_core.planning",
    "Healthcheck": "devarch_core.spec",
    "ImageInfo": "devarch_core.engine",
    "LogLine": "devarch_core.engine",
    "Import": "devarch_core.template",
    "ImportResult": "devarch_core.usecases.manifests",
    "Instance": "devarch_core.model",
    "InstanceStatus": "devarch_core.app",
    "InvalidNameError": "devarch_core.errors",
    "KeyProvider": "devarch_core.ports",
    "Lockfile": "devarch_core.manifest",
    "Manifest": "devarch_core.manifest",
    "ManifestError": "devarch_core.errors",
    "Mount": "devarch_core.engine",
    "NetworkInfo": "devarch_core.engine",
    "NotFoundError": "devarch_core.errors",
    "NullReporter": "devarch_core.reporting",
    "Overrides": "devarch_core.overrides",
    "Plan": "devarch_core.planning",
    "PlanDiagnostic": "devarch_core.planning",
    "PortAllocation": "devarch_core.model",
    "PortConflictError": "devarch_core.errors",
    "PortProbe": "devarch_core.ports",
    "PortSpec": "devarch_core.spec",
    "Problem": "devarch_core.errors",
    "PublishedPort": "devarch_core.engine",
    "RecordingReporter": "devarch_core.reporting",
    "Reporter": "devarch_core.ports",
    "Resources": "devarch_core.spec",
    "Runtime": "devarch_core.ports",
    "SealedSecret": "devarch_core.ports",
    "Secret": "devarch_core.secrets",
    "SecretError": "devarch_core.errors",
    "ServiceSpec": "devarch_core.spec",
    "Stack": "devarch_core.model",
    "StackLock": "devarch_core.ports",
    "StackLockedError": "devarch_core.errors",
    "StackSummary": "devarch_core.app",
    "StalePlanError": "devarch_core.errors",
    "StatusReport": "devarch_core.status",
    "Store": "devarch_core.ports",
    "StoreError": "devarch_core.errors",
    "StoreSession": "devarch_core.ports",
    "SvgGraph": "devarch_core._svg",
    "SystemClock": "devarch_core.app",
    "Template": "devarch_core.template",
    "TemplateError": "devarch_core.errors",
    "ValidationError": "devarch_core.errors",
    "VolumeInfo": "devarch_core.engine",
    "VolumeSpec": "devarch_core.spec",
    "Wire": "devarch_core.model",
    "WireInjection": "devarch_core.merge",
    "WiringError": "devarch_core.errors",
    "WiringPlan": "devarch_core.wiring",
    "builtin_catalog": "devarch_core.catalog",
    "container_name": "devarch_core.naming",
    "network_name": "devarch_core.naming",
    "parse_template_text": "devarch_core.catalog",
    "resolve": "devarch_core.merge",
    "slugify": "devarch_core.naming",
    "solve_wiring": "devarch_core.wiring",
    "template_to_yaml": "devarch_core.compose_import",
    "templates_from_compose": "devarch_core.compose_import",
    "validate_name": "devarch_core.naming",
    "volume_name": "devarch_core.naming",
    "wiring_graph": "devarch_core.rendering",
}


if not TYPE_CHECKING:  # type checkers see the imports above; unknown names stay errors there

    def __getattr__(name: str) -> Any:  # noqa: ANN401 - the value of any public name
        """Import a public name from its module on first access and cache it (PEP 562)."""
        try:
            module = _LAZY[name]
        except KeyError:
            msg = f"module {__name__!r} has no attribute {name!r}"
            raise AttributeError(msg) from None
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    """The module's own globals plus every lazily importable public name."""
    return sorted(set(globals()) | set(__all__))
