"""Templates from an existing docker-compose file, and template files written back as YAML.

:func:`templates_from_compose` turns each service of a compose file into a :class:`Template`.
Compose and devarch disagree on a few points, and the import settles them the same way every
time, reporting each decision in :attr:`ComposeImport.warnings` rather than failing:

* **Ports** keep only the container side (``"8080:80"`` becomes ``80``): devarch allocates host
  ports itself. Every number (container and host side) must be 1-65535 and a host ip an IP
  literal. A container port range (``"8000-8010"``) is checked as a range first and then
  expanded into its ports; ranges of more than ``MAX_PORT_RANGE`` (100) ports are refused, since
  devarch allocates one host port per container port (docs/templates.md).
* **Bind mounts** of host paths (``./src:/app``, ``/srv/pg:/var/lib/postgresql/data``) become
  named volumes called after the path's last segment, slugified (``./src`` -> ``src``,
  ``./nginx.conf`` -> ``nginx-conf``), because a template is shared between stacks and
  machines and cannot assume a host path exists. Host content is not copied; use
  ``config_files`` or an instance override to bind the real path. Named volumes are kept,
  their names slugified to DNS labels (``pg_data`` -> ``pg-data``).
* **depends_on** is dropped: it names compose services, which are neither templates nor
  instances. In devarch dependencies come from wiring (a consumer's import depends on its
  provider) or from an instance override naming instances of the same stack.
* **Interpolation**: ``$$`` becomes ``$`` and ``${VAR:-default}`` / ``${VAR-default}`` take
  their default; ``${VAR}`` without a default is kept as written (with a warning), since the
  value lived in the host environment or an ``.env`` file devarch does not read.
* **Secrets**: environment variables whose names look like credentials (``*PASSWORD*``,
  ``*SECRET*``, ``*TOKEN*``, ``*_KEY``) are listed in the template's ``secrets``.
* Keys devarch does not model (``build``, ``networks``, ``extra_hosts``, ``env_file``,
  ``container_name``, ...) are dropped and named in the warnings. A service without an
  ``image`` (``build`` only) cannot become a template and is skipped with a warning (an error
  when it is the one asked for with ``service=``).

Exports and imports cannot be inferred from a compose file; add them to the written template.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from devarch_core import _yamldump
from devarch_core._parsing import Problems, join, listing, short_repr, type_name
from devarch_core.catalog import load_yaml
from devarch_core.errors import NotFoundError, Problem, TemplateError
from devarch_core.fields import FIELDS
from devarch_core.naming import NAME_PATTERN, slugify
from devarch_core.template import Template
from devarch_core.validators import check_host_ip, check_port_number, parse_port_range, shown

__all__ = ["ComposeImport", "template_to_yaml", "templates_from_compose"]

#: The compose keys the field table imports (the rest are dropped with a warning).
_HANDLED_KEYS = frozenset(
    key
    for field in FIELDS
    if field.import_ is not None and field.compose is not None
    for key in (field.compose, *field.import_keys)
) | {"depends_on"}  # read, then dropped with a warning (see _Service.depends_on)
_HEALTHCHECK_KEYS = ("test", "interval", "timeout", "retries", "start_period")
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|(^|_)(API_)?KEY$", re.IGNORECASE)
#: ``$$`` | ``${VAR}``, ``${VAR:-default}``, ``${VAR?err}``... | ``$VAR``.
_INTERPOLATION = re.compile(
    r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


@frozen(kw_only=True)
class ComposeImport:
    """The result of an import: the templates, and every decision the import made for them."""

    templates: tuple[Template, ...]
    #: Human-readable notes such as ``web: dropped depends_on (...)``, in file order.
    warnings: tuple[str, ...] = ()


class _Service:
    """Converts one compose service to template data, collecting warnings."""

    def __init__(
        self, name: str, raw: Mapping[str, Any], warnings: list[str], problems: Problems
    ) -> None:
        self.name = name
        self.raw = raw
        self.warnings = warnings
        #: Values that cannot be converted faithfully are refused here, by their compose path.
        self.problems = problems
        self.where = f"services.{name}"
        self.volume_names: dict[str, str] = {}  # source (path or name) -> volume name

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.name}: {message}")

    def interpolate(self, value: Any, where: str) -> Any:  # noqa: ANN401 - any YAML value
        """Resolve compose interpolation in every string of ``value``."""
        if isinstance(value, str):
            return self._interpolate_text(value, where)
        if isinstance(value, list):
            return [self.interpolate(v, where) for v in value]
        if isinstance(value, Mapping):
            return {k: self.interpolate(v, join(where, str(k))) for k, v in value.items()}
        return value

    def _interpolate_text(self, text: str, where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(1):
                return "$"
            var = match.group(2) or match.group(5)
            op, default = match.group(3), match.group(4)
            if op in (":-", "-"):
                shown = short_repr(default)
                self.warn(f"{where}: {match.group(0)} resolved to its default {shown}")
                return default or ""
            self.warn(f"{where}: {match.group(0)} is kept as written (${var} is not read)")
            return match.group(0)

        return _INTERPOLATION.sub(replace, text)

    def convert(self) -> dict[str, Any]:
        """Template service data: each field imported by its row of the field table."""
        raw = self.raw
        service: dict[str, Any] = {}
        for field in FIELDS:
            if field.import_ is None:
                continue
            value = field.import_(raw, self)
            if value is not None and value not in ([], {}):
                service[field.name] = value
        self.depends_on(raw.get("depends_on"))
        dropped = sorted(set(raw) - _HANDLED_KEYS, key=str)
        if dropped:
            self.warn(f"dropped unsupported keys: {listing(dropped)}")
        return service

    def depends_on(self, depends: object) -> None:
        """Dropped with a warning: it names compose services, not instances."""
        if depends is not None and not isinstance(depends, list | Mapping):
            self.problems.add(
                join(self.where, "depends_on"),
                f"expected a list or mapping of services, got {type_name(depends)}",
            )
        elif depends:
            names = listing(sorted(shown(d) if not isinstance(d, str) else d for d in depends))
            self.warn(
                f"dropped depends_on ({names}): it names compose services; in devarch "
                "dependencies come from wiring or instance overrides"
            )

    def environment(self, value: object) -> dict[str, str]:
        items: list[tuple[str, object]] = []
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    self.problems.add(
                        f"{self.where}.environment[{i}]",
                        f"expected 'NAME=value', got {type_name(item)}",
                    )
                    continue
                name, sep, text = item.partition("=")
                items.append((name, text if sep else None))
        elif isinstance(value, Mapping):
            items = [(str(k), v) for k, v in value.items()]
        elif value is not None:
            self.warn(f"dropped environment: expected a list or mapping, got {type_name(value)}")
        env: dict[str, str] = {}
        for name, raw in items:
            if raw is None:
                self.warn(f"dropped environment.{name}: its value comes from the host environment")
                continue
            if isinstance(raw, bool):
                text = "true" if raw else "false"
            elif isinstance(raw, str | int | float):
                text = str(raw)
            else:
                self.warn(f"dropped environment.{name}: expected a string, got {type_name(raw)}")
                continue
            env[name] = self._interpolate_text(text, f"environment.{name}")
        return env

    def labels(self, value: object) -> dict[str, str]:
        labels: dict[str, str] = {}
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    self.problems.add(
                        f"{self.where}.labels[{i}]", f"expected 'KEY=value', got {type_name(item)}"
                    )
                    continue
                key, _, text = item.partition("=")
                labels[key] = text
        elif isinstance(value, Mapping):
            labels = {str(k): "" if v is None else str(v) for k, v in value.items()}
        for key in [k for k in labels if k.startswith("devarch.")]:
            self.warn(f"dropped label {key}: devarch.* labels are reserved")
            del labels[key]
        return labels

    def ports(self, value: object) -> list[str]:
        ports: list[str] = []
        for i, item in enumerate(self.problems.expect_list(value, join(self.where, "ports"))):
            where = f"ports[{i}]"
            for port in self._port(self.interpolate(item, where), where):
                if port not in ports:
                    ports.append(port)
        return ports

    def _port(self, item: object, where: str) -> list[str]:
        """The container ports of one compose port, each ``"N"`` or ``"N/udp"``.

        Ranges are checked (bounds, size) before anything is expanded, so ``"1-999999999"`` is
        refused at once.
        """
        path = join(self.where, where)
        if isinstance(item, int) and not isinstance(item, bool):
            return [str(n)] if (n := self.problems.checked(item, path, check_port_number)) else []
        if isinstance(item, Mapping):
            return self._long_port(item, where)
        if not isinstance(item, str):
            self.problems.add(path, f"expected a port, got {type_name(item)}")
            return []
        text, _, protocol = item.partition("/")
        parts = text.rsplit(":", 2)
        if len(parts) == 3 and parts[0]:  # noqa: PLR2004 - ip:host:container
            self.problems.checked(parts[0], path, check_host_ip)
        if len(parts) > 1 and parts[-2]:
            self._range(parts[-2], path, "host port")
        container = self._range(parts[-1], path, "port")
        if container is None or not self._protocol(protocol or "tcp", path):
            return []
        if len(parts) > 1:
            self.warn(
                f"{where}: {shown(item)} became container port {parts[-1]} (host port dropped)"
            )
        numbers = [str(n) for n in range(container[0], container[1] + 1)]
        return [f"{n}/{protocol}" if protocol else n for n in numbers]

    def _long_port(self, item: Mapping[str, Any], where: str) -> list[str]:
        path = join(self.where, where)
        target, protocol = item.get("target"), item.get("protocol", "tcp")
        if target is None:
            self.problems.add(join(path, "target"), "a port needs a target (container) port")
            return []
        if item.get("host_ip") is not None:
            self.problems.checked(item["host_ip"], join(path, "host_ip"), check_host_ip)
        published = item.get("published")
        if (
            published is not None
            and self._range(published, join(path, "published"), "host port") is not None
        ):
            self.warn(f"{where}: host port {published} dropped (devarch allocates one)")
        port = self._range(target, join(path, "target"), "port")
        if port is None or not self._protocol(protocol, join(path, "protocol")):
            return []
        suffix = "" if protocol == "tcp" else f"/{protocol}"
        return [f"{n}{suffix}" for n in range(port[0], port[1] + 1)]

    def _range(self, value: object, path: str, what: str) -> tuple[int, int] | None:
        """A port number or ``low-high`` range (ints or text), checked; ``None`` if refused."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.problems.add(path, f"expected a {what} number, got {type_name(value)}")
            return None
        try:
            return parse_port_range(value, what)
        except ValueError as exc:
            self.problems.add(path, str(exc))
            return None

    def _protocol(self, protocol: object, path: str) -> bool:
        if protocol in ("tcp", "udp"):
            return True
        self.problems.add(path, f"protocol {shown(protocol)} must be tcp or udp")
        return False

    def volumes(self, value: object) -> list[dict[str, Any]]:
        volumes: list[dict[str, Any]] = []
        items = self.problems.expect_list(value, join(self.where, "volumes"))
        for i, item in enumerate(items):
            where = f"volumes[{i}]"
            volume = self._volume(self.interpolate(item, where), where)
            if volume is not None:
                volumes.append(volume)
        return volumes

    def _volume(self, item: object, where: str) -> dict[str, Any] | None:  # noqa: C901 - per form
        if isinstance(item, str):
            parts = item.split(":")
            mode = parts.pop() if len(parts) == 3 else ""  # noqa: PLR2004 - source:target:mode
            if len(parts) == 2 and (parts[1].startswith("/") or not parts[1]):  # noqa: PLR2004
                source, target = parts
            elif len(parts) == 2:  # noqa: PLR2004 - target:mode
                source, target, mode = "", parts[0], parts[1]
            else:
                source, target = "", parts[0]
            kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
            read_only = "ro" in mode.split(",")
        elif isinstance(item, Mapping):
            fields = self._long_volume_fields(item, join(self.where, where))
            if fields is None:
                return None
            kind, source, target, read_only = fields
            extra = sorted(set(item) - {"type", "source", "target", "read_only"})
            if extra:
                self.warn(f"{where}: dropped mount options {', '.join(extra)}")
        else:
            self.warn(f"{where}: dropped volume {short_repr(item)}")
            return None
        if kind == "tmpfs":
            return {"type": "tmpfs", "target": target}
        if kind not in ("volume", "bind"):
            self.warn(f"{where}: dropped {kind} mount at {target}")
            return None
        data: dict[str, Any] = {"target": target}
        if source:
            data["source"] = self._volume_name(source, target, bind=kind == "bind", where=where)
        if read_only:
            data["read_only"] = True
        return data

    def _long_volume_fields(
        self, item: Mapping[str, Any], path: str
    ) -> tuple[str, str, str, bool] | None:
        """``(type, source, target, read_only)`` of a long-form volume; strings and a boolean."""
        fields = {key: item.get(key) for key in ("type", "source", "target")}
        for key, value in fields.items():
            if value is not None and not isinstance(value, str):
                self.problems.add(join(path, key), f"expected text, got {type_name(value)}")
                return None
        read_only = item.get("read_only", False)
        if not isinstance(read_only, bool):
            self.problems.add(
                join(path, "read_only"), f"expected true or false, got {type_name(read_only)}"
            )
            return None
        return (
            fields["type"] or "volume",
            fields["source"] or "",
            fields["target"] or "",
            read_only,
        )

    def _volume_name(self, source: str, target: str, *, bind: bool, where: str) -> str:
        if source in self.volume_names:
            return self.volume_names[source]
        if bind:
            segment = posixpath.basename(posixpath.normpath(source.replace("~", "home", 1)))
            base = slugify(segment) or slugify(posixpath.basename(target)) or "data"
        else:
            base = source if NAME_PATTERN.fullmatch(source) else slugify(source) or "data"
        name, n = base, 2
        while name in self.volume_names.values():
            name, n = f"{base}-{n}", n + 1
        if bind:
            self.warn(
                f"{where}: bind mount {source} became named volume {short_repr(name)} "
                "(its host content is not copied; bind the path in an instance override)"
            )
        elif name != source:
            self.warn(
                f"{where}: volume {short_repr(source)} renamed {short_repr(name)} "
                "(names are DNS labels)"
            )
        self.volume_names[source] = name
        return name

    def healthcheck(self, value: object) -> dict[str, Any] | None:
        value = self.problems.expect_mapping(value, join(self.where, "healthcheck"))
        if not value:
            return None
        if value.get("disable") or value.get("test") in (["NONE"], "NONE"):
            return None
        extra = sorted(set(value) - {*_HEALTHCHECK_KEYS, "disable"})
        if extra:
            self.warn(f"healthcheck: dropped {', '.join(extra)}")
        return {
            key: self.interpolate(value[key], f"healthcheck.{key}")
            for key in _HEALTHCHECK_KEYS
            if key in value
        }

    def resources(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        resources: dict[str, Any] = {}
        deploy = raw.get("deploy")
        if deploy is not None:
            path = join(self.where, "deploy")
            deploy = self.problems.expect_mapping(deploy, path)
            res = self.problems.expect_mapping(deploy.get("resources"), join(path, "resources"))
            limits = self.problems.expect_mapping(res.get("limits"), join(path, "resources.limits"))
            reservations = self.problems.expect_mapping(
                res.get("reservations"), join(path, "resources.reservations")
            )
            pairs = (
                ("cpu_limit", limits.get("cpus")),
                ("memory_limit", limits.get("memory")),
                ("cpu_reservation", reservations.get("cpus")),
                ("memory_reservation", reservations.get("memory")),
            )
            resources = {k: v for k, v in pairs if v is not None}
            dropped = sorted(str(k) for k in {*deploy} - {"resources"}) + sorted(
                f"resources.reservations.{k}" for k in set(reservations) - {"cpus", "memory"}
            )
            if dropped:
                self.warn(f"deploy: dropped {listing(dropped)}")
        legacy = (
            ("cpus", "cpu_limit"),
            ("mem_limit", "memory_limit"),
            ("mem_reservation", "memory_reservation"),
        )
        for key, field in legacy:
            if raw.get(key) is not None:
                resources.setdefault(field, raw[key])
        return resources


def _service_problem(problem: Problem, service: str) -> Problem:
    path = problem.path
    if path == "service" or path.startswith(("service.", "service[")):
        path = path[len("service") :].lstrip(".")
    return Problem(join(f"services.{service}", path), problem.message)


def _template_from_service(  # noqa: PLR0911 - one early return per refusal
    svc: str,
    raw: object,
    *,
    origin: str,
    version: str,
    selected: bool,
    names: dict[str, str],
    problems: Problems,
    warnings: list[str],
) -> Template | None:
    where = f"services.{svc}"
    if not isinstance(raw, Mapping):
        problems.add(where, f"expected a mapping, got {type_name(raw)}")
        return None
    name = slugify(svc)
    if not name:
        problems.add(where, f"{short_repr(svc)} cannot be turned into a template name")
        return None
    if name in names:
        problems.add(
            where, f"becomes template {short_repr(name)}, like service {short_repr(names[name])}"
        )
        return None
    names[name] = svc
    if not raw.get("image"):
        message = "has no image (build-only services cannot become templates)"
        if selected:
            problems.add(join(where, "image"), message)
        else:
            warnings.append(f"{svc}: skipped: {message}")
        return None
    before = len(problems.items)
    spec = _Service(svc, raw, warnings, problems).convert()
    secrets = sorted(k for k in spec.get("environment", {}) if _SECRET_NAME.search(k))
    data: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": f"imported from {posixpath.basename(origin) or origin} (service {svc})",
        "service": spec,
        "secrets": secrets,
    }
    if len(problems.items) > before:
        return None  # the refusals above name the compose paths; the template would repeat them
    try:
        return Template.from_data(data, origin=f"compose:{origin}#{svc}")
    except TemplateError as exc:
        problems.items.extend(_service_problem(p, svc) for p in exc.problems)
        return None


def templates_from_compose(
    text: str | bytes, *, origin: str, service: str | None = None, version: str = "1.0"
) -> ComposeImport:
    """Turn the services of a compose file into templates (see the module docstring for the rules).

    ``service`` selects one service (``NotFoundError`` listing the services when it is absent).
    Template names are the slugified service names; each template has ``version`` and the origin
    ``compose:{origin}#{service}``. Raises ``TemplateError`` naming ``origin`` and every problem
    (``services.web.image: ...``) when the file or a service cannot be used.
    """
    data = load_yaml(text, origin, what="compose file")
    what = f"cannot import compose file {origin}"
    if not isinstance(data, Mapping) or not isinstance(data.get("services"), Mapping):
        problem = Problem("services", "a compose file needs a services mapping")
        raise TemplateError([problem], what=what)
    services: Mapping[str, Any] = data["services"]
    if service is not None:
        if service not in services:
            listed = listing(services)
            raise NotFoundError("compose service", service, hint=f"{origin} defines: {listed}")
        services = {service: services[service]}
    problems = Problems()
    warnings: list[str] = []
    templates: list[Template] = []
    names: dict[str, str] = {}
    for svc, raw in services.items():
        template = _template_from_service(
            str(svc), raw, origin=origin, version=version, selected=service is not None,
            names=names, problems=problems, warnings=warnings,
        )  # fmt: skip
        if template is not None:
            templates.append(template)
    problems.raise_if_any(TemplateError, what=what)
    return ComposeImport(templates=tuple(templates), warnings=tuple(warnings))


def template_to_yaml(template: Template) -> str:
    """Return the template file text for ``template``: deterministic, block style, keys in order.

    Parsing the text back gives an equal template with the same content hash. The first line
    points editors at the template schema (docs/editors.md).
    """
    from devarch_core._schemaparts import modeline  # noqa: PLC0415 - keep the import list short

    text = _yamldump.dump(
        template.to_data(), width=1_000_000, indent_sequences=True, literal_blocks=True
    )
    return modeline("template") + text
