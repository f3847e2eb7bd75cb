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
Importing this package loads no driver (docker, psycopg, sqlite3, requests).
"""

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
from devarch_core.naming import container_name, network_name, slugify, validate_name, volume_name
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
from devarch_core.spec import ConfigFile, Healthcheck, PortSpec, Resources, ServiceSpec, VolumeSpec
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
    "Store",
    "StoreError",
    "StoreSession",
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
