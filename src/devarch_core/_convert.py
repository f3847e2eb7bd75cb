"""The one converter between devarch's attrs classes and plain data (JSON, YAML, store rows).

Every machine format (plan files and plan JSON, ``devarch.lock``, the ``devarch.yml`` export,
the CLI's ``--json`` output and store rows) goes through :func:`unstructure` and
:func:`structure`, configured here once: strict scalars, tuples as lists, ``Secret`` always
``***``, ``Decimal`` as text, defaults omitted where a format omits them, and structuring
errors that name the path of the bad value (``actions[0].changes[1].field``). See
docs/architecture.md#machine-formats.

``cattrs`` is imported on first use, not when ``devarch_core`` is imported, so the core stays
cheap to import.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, cast

from devarch_core.errors import ManifestError, Problem
from devarch_core.secrets import REDACTED, Secret

if TYPE_CHECKING:
    import cattrs

__all__ = ["Unstructured", "problems_of", "row", "structure", "structure_row", "unstructure"]

T = TypeVar("T")

#: Fields a format leaves out when they hold their default: class name -> field names.
_OMIT_DEFAULTS: dict[str, tuple[str, ...]] = {
    "Action": ("reason",),
    "PlanDiagnostic": ("instance",),
}


def _strict(kind: type[T], *, reject_bool: bool = False) -> Callable[[object, type], T]:
    """A structure hook that accepts only ``kind`` (cattrs would call ``str(5)`` otherwise)."""

    def hook(value: object, _: type) -> T:
        if not isinstance(value, kind) or (reject_bool and isinstance(value, bool)):
            msg = f"expected {kind.__name__}, got {type(value).__name__}"
            raise TypeError(msg)
        return value

    return hook


def _float(value: object, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"expected a number, got {type(value).__name__}"
        raise TypeError(msg)
    return float(value)


def _decimal(value: object, _: type) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        msg = f"expected a decimal number, got {type(value).__name__}"
        raise TypeError(msg)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        msg = f"not a decimal number: {str(value)[:40]!r}"
        raise ValueError(msg) from None


def _custom(conv: cattrs.Converter, cls: type, hook: Callable[[Any], Any]) -> None:
    """Register a hand-written unstructure hook for exactly ``cls`` (no type resolution needed)."""
    conv.register_unstructure_hook_func(lambda t: t is cls, hook)


def make_dict_unstructure_fn(
    cls: type,
    conv: cattrs.Converter,
    **overrides: Any,  # noqa: ANN401 - cattrs' overrides
) -> Callable[[Any], dict[str, Any]]:
    """Cattrs' generated unstructure function, keys in attribute order.

    cattrs writes the fields it may omit (``omit_if_default``) after all others; devarch's
    formats keep the documented order, so the keys are put back in attribute order.
    """
    import attrs  # noqa: PLC0415
    from cattrs.gen import make_dict_unstructure_fn as generate  # noqa: PLC0415

    fields_fn: Callable[[Any], dict[str, Any]] = generate(cls, conv, **overrides)
    order = [getattr(overrides.get(a.name), "rename", None) or a.name for a in attrs.fields(cls)]

    def unstructure(value: object) -> dict[str, Any]:
        data = fields_fn(value)
        return {key: data[key] for key in order if key in data}

    return unstructure


def _once(build: Callable[[], Callable[..., T]]) -> Callable[..., T]:
    """A hook that generates its function on its first call, not when the converter is built.

    cattrs compiles each generated (un)structure function; a CLI command that reads two store
    rows should not pay for the plan, lockfile, manifest and template formats. Two threads
    racing on the first call both build the same function, and one of them is kept.
    """
    built: list[Callable[..., T]] = []

    def hook(*args: Any) -> T:  # noqa: ANN401 - whatever the generated function takes
        if not built:
            built.append(build())
        return built[0](*args)

    return hook


def _port_sort(key: str) -> tuple[int, str]:
    number, _, proto = key.partition("/")
    return (int(number) if number.isdigit() else 0, proto)


def _configure(conv: cattrs.Converter) -> None:  # noqa: C901, PLR0915 - one registration per format
    from cattrs.gen import make_dict_structure_fn, override  # noqa: PLC0415

    from devarch_core import manifest, planning, wiring  # noqa: PLC0415
    from devarch_core.merge import EffectiveConfig  # noqa: PLC0415
    from devarch_core.model import Wire  # noqa: PLC0415
    from devarch_core.overrides import Overrides  # noqa: PLC0415
    from devarch_core.spec import ServiceSpec  # noqa: PLC0415

    omit, omit_default = override(omit=True), override(omit_if_default=True)

    def generated(cls: type, **overrides: Any) -> Callable[[Any], dict[str, Any]]:  # noqa: ANN401
        """Cattrs' unstructure function for ``cls`` with ``overrides``, generated on first use."""
        return _once(functools.partial(make_dict_unstructure_fn, cls, conv, **overrides))

    # Scalars: strict on the way in, plain on the way out.
    conv.register_structure_hook(str, _strict(str))
    conv.register_structure_hook(int, _strict(int, reject_bool=True))
    conv.register_structure_hook(bool, _strict(bool))
    conv.register_structure_hook(float, _float)
    conv.register_structure_hook(Decimal, _decimal)
    conv.register_unstructure_hook(Decimal, str)
    # ``object`` in a plain-data field (``Mapping[str, object]``) means any JSON value, like Any.
    conv.register_structure_hook_func(lambda t: t is object, lambda value, _: value)
    # A secret never leaves as its value, whatever holds it.
    conv.register_unstructure_hook(Secret, lambda _secret: REDACTED)
    # Tuples (every sequence field of a frozen class) are JSON/YAML lists.
    conv.register_unstructure_hook_func(
        lambda t: t is tuple or getattr(t, "__origin__", None) is tuple,
        lambda value: [conv.unstructure(v) for v in value],
    )
    # Owned by the field table (spec.py/overrides.py): their own data form, used as is.
    conv.register_unstructure_hook(Overrides, lambda o: o.to_data())
    # An Overrides value already parsed (a store reusing one it parsed earlier) is kept as is.
    conv.register_structure_hook(
        Overrides,
        lambda data, _: data if isinstance(data, Overrides) else Overrides.from_data(data),
    )
    conv.register_unstructure_hook(ServiceSpec, lambda s: s.to_data())

    for cls in (planning.FieldChange, planning.Action, planning.PlanDiagnostic):
        defaults = dict.fromkeys(_OMIT_DEFAULTS.get(cls.__name__, ()), omit_default)
        conv.register_unstructure_hook(cls, generated(cls, **defaults))
        conv.register_structure_hook(
            cls,
            _once(
                functools.partial(make_dict_structure_fn, cls, conv, _cattrs_forbid_extra_keys=True)
            ),
        )

    # The plan: a format number first, then its fields; the token basis sorted.
    plan_fields = generated(planning.Plan)
    plan_struct = _once(
        lambda: make_dict_structure_fn(planning.Plan, conv, _cattrs_forbid_extra_keys=True)
    )

    def unstructure_plan(plan: planning.Plan) -> dict[str, Any]:
        data = plan_fields(plan)
        data["wiring"] = [dict(w) for w in plan.wiring]
        data["basis"] = {k: dict(v) for k, v in sorted(plan.basis.items())}
        return {"format": planning.PLAN_FORMAT, **data}

    def structure_plan(data: object, cls: type) -> planning.Plan:
        if not isinstance(data, Mapping):
            msg = f"expected a mapping, got {type(data).__name__}"
            raise TypeError(msg)
        body = {k: v for k, v in data.items() if k != "format"}
        return plan_struct(body, cls)

    _custom(conv, planning.Plan, unstructure_plan)
    conv.register_structure_hook(planning.Plan, structure_plan)

    # Wiring output: the plan's ``wiring`` and ``diagnostics`` rows name imports ``import``.
    as_import, as_export = override(rename="import"), override(rename="export")
    conv.register_unstructure_hook(
        wiring.ResolvedWire,
        generated(wiring.ResolvedWire, import_name=as_import, export_name=as_export),
    )
    conv.register_unstructure_hook(
        wiring.Diagnostic, generated(wiring.Diagnostic, import_name=as_import)
    )
    conv.register_unstructure_hook(
        wiring.WiringPlan, generated(wiring.WiringPlan, wires=override(rename="wiring"))
    )

    # devarch.lock: omitted defaults, ports in port order, instances by name.
    locked_fields = generated(
        manifest.LockedInstance, image_digest=omit_default, ports=omit_default
    )

    def unstructure_locked(entry: manifest.LockedInstance) -> dict[str, Any]:
        data = locked_fields(entry)
        if not entry.image_digest:
            data.pop("image_digest", None)
        if entry.ports:
            data["ports"] = dict(sorted(entry.ports.items(), key=lambda kv: _port_sort(kv[0])))
        return data

    lock_fields = generated(manifest.Lockfile)

    def unstructure_lockfile(lock: manifest.Lockfile) -> dict[str, Any]:
        data = lock_fields(lock)
        data["instances"] = {k: conv.unstructure(v) for k, v in sorted(lock.instances.items())}
        return data

    _custom(conv, manifest.LockedInstance, unstructure_locked)
    _custom(conv, manifest.Lockfile, unstructure_lockfile)
    for locked in (manifest.LockedInstance, manifest.Lockfile):
        conv.register_structure_hook(
            locked,
            _once(
                functools.partial(
                    make_dict_structure_fn, locked, conv, _cattrs_forbid_extra_keys=True
                )
            ),
        )

    # devarch.yml: wires as the manifest writes them.
    conv.register_unstructure_hook(
        Wire,
        generated(
            Wire,
            import_name=as_import,
            export_name=override(rename="export", omit_if_default=True),
        ),
    )
    # The name is the instance's key; overrides, secret refs and pins are written below.
    instance_fields = generated(
        manifest.InstanceSpec,
        **dict.fromkeys(("template_version", "description", "enabled"), omit_default),
        **dict.fromkeys(("name", "overrides", "secret_refs", "port_pins", "image_digest"), omit),
    )

    def unstructure_instance(spec: manifest.InstanceSpec) -> dict[str, Any]:
        data = instance_fields(spec)
        overrides = manifest.overrides_data(spec)
        if overrides:
            data["overrides"] = overrides
        pins: dict[str, Any] = {}
        if spec.port_pins:
            pins["ports"] = dict(sorted(spec.port_pins.items(), key=lambda kv: _port_sort(kv[0])))
        if spec.image_digest:
            pins["image"] = spec.image_digest
        if pins:
            data["pins"] = pins
        return data

    def unstructure_manifest(doc: manifest.Manifest) -> dict[str, Any]:
        stack: dict[str, Any] = {"name": doc.stack}
        if doc.description:
            stack["description"] = doc.description
        if doc.network:
            stack["network"] = doc.network
        instances = sorted(doc.instances, key=lambda i: i.name)
        wires = sorted(doc.wires, key=lambda w: (w.consumer, w.import_name))
        return {
            "version": doc.version,
            "stack": stack,
            "instances": {i.name: conv.unstructure(i) for i in instances},
            "wires": [conv.unstructure(w) for w in wires],
        }

    _custom(conv, manifest.InstanceSpec, unstructure_instance)
    _custom(conv, manifest.Manifest, unstructure_manifest)

    # Templates (their canonical data is hashed into the lockfile: the shape must never move).
    from devarch_core import template  # noqa: PLC0415

    conv.register_unstructure_hook(
        template.Export, generated(template.Export, port=omit_default, protocol=omit_default)
    )
    conv.register_unstructure_hook(
        template.Import, generated(template.Import, prefix=omit_default, rename=omit_default)
    )
    conv.register_unstructure_hook(
        template.Template,
        generated(
            template.Template,
            description=omit_default,
            secrets=omit_default,
            origin=omit,
            _memo=omit,
        ),
    )

    _custom(conv, EffectiveConfig, _effective_data)
    _configure_results(conv)


def _effective_data(config: Any) -> dict[str, Any]:  # noqa: ANN401 - EffectiveConfig
    return {
        "stack": config.stack,
        "instance": config.instance,
        "container": config.container_name,
        "network": config.network,
        "enabled": config.enabled,
        "template": {
            "name": config.template,
            "version": config.template_version,
            "hash": config.template_hash,
        },
        "service": config.service.to_data(),
        "sources": dict(sorted(config.sources.items())),
        "secrets": sorted(config.secret_env),
    }


def _configure_results(conv: cattrs.Converter) -> None:  # noqa: C901 - one hook per result
    """The CLI's ``--json`` output of use case results.

    Found by class name, not imported: the use case modules import this one, and where a result
    class lives may change without its output changing.
    """
    from cattrs.gen import override  # noqa: PLC0415

    def fields(cls: type) -> Callable[[Any], dict[str, Any]]:
        return make_dict_unstructure_fn(cls, conv)

    def apply_result(cls: type) -> Callable[[Any], dict[str, Any]]:
        # The refreshed lockfile goes to its file and its warnings to the reporter; the JSON
        # result keeps its documented shape (stack, plan, timings).
        omit = override(omit=True)
        plain = make_dict_unstructure_fn(cls, conv, lockfile=omit, lockfile_warnings=omit)

        def unstructure(result: Any) -> dict[str, Any]:  # noqa: ANN401 - ApplyResult
            data = plain(result)
            data["timings"] = {k: round(v, 3) for k, v in result.timings.items()}
            return data

        return unstructure

    def import_result(cls: type) -> Callable[[Any], dict[str, Any]]:
        omit = override(omit=True)
        plain = make_dict_unstructure_fn(cls, conv, actions=omit, warnings=omit, applied=omit)

        def unstructure(result: Any) -> dict[str, Any]:  # noqa: ANN401 - ImportResult
            data = plain(result)
            data["applied"] = result.applied
            data["actions"] = conv.unstructure(result.actions)
            data["warnings"] = list(result.warnings)
            return data

        return unstructure

    def init_result(_: type) -> Callable[[Any], dict[str, Any]]:
        return lambda result: {
            "import": conv.unstructure(result.imported),
            "apply": conv.unstructure(result.applied),
            "lockfile": conv.unstructure(result.lockfile),
            "warnings": list(result.warnings),
            "changed": result.changed,
        }

    def init_preview(_: type) -> Callable[[Any], dict[str, Any]]:
        return lambda result: {
            "import": conv.unstructure(result.imported),
            "plan": None if result.plan is None else conv.unstructure(result.plan),
            "warnings": list(result.warnings),
            "changed": result.changed,
            "dry_run": True,
        }

    def stack_summary(_: type) -> Callable[[Any], dict[str, Any]]:
        from devarch_core._jsonforms import stack_summary_data  # noqa: PLC0415

        return stack_summary_data

    factories: dict[str, Callable[[type], Callable[[Any], dict[str, Any]]]] = {
        "InstanceStatus": fields,
        "DownResult": fields,
        "ApplyResult": apply_result,
        "ImportResult": import_result,
        "InitResult": init_result,
        "InitPreview": init_preview,
        "StackSummary": stack_summary,
    }

    def is_result(cls: object) -> bool:
        return (
            isinstance(cls, type)
            and cls.__module__.startswith("devarch_core.")
            and cls.__name__ in factories
        )

    conv.register_unstructure_hook_factory(is_result, lambda cls: factories[cls.__name__](cls))
    for cls in _EXTRA_RESULTS:
        conv.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, conv))


#: Result classes outside the core (``devarch_adapters.doctor.Check``) register here, before the
#: converter is first built, rather than the core importing an adapter.
_EXTRA_RESULTS: list[type] = []


def register_result(cls: type[T]) -> type[T]:
    """Class decorator: unstructure ``cls`` field by field for ``--json`` output."""
    _EXTRA_RESULTS.append(cls)
    if converter.cache_info().currsize:
        conv = converter()
        conv.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, conv))
    return cls


@functools.cache
def converter() -> cattrs.Converter:
    """The configured converter (built on first use: importing cattrs is deferred to here)."""
    import cattrs  # noqa: PLC0415 - deferred: see the module docstring

    conv = cattrs.Converter(detailed_validation=True, forbid_extra_keys=True)
    _configure(conv)
    return conv


@functools.cache
def _row_converter() -> cattrs.Converter:
    """Store rows: like :func:`converter`, but a driver's 0/1 is a bool and memoryview bytes."""
    from devarch_core.model import Wire  # noqa: PLC0415

    conv = converter().copy()
    conv.register_structure_hook(bool, lambda value, _: bool(value))
    conv.register_structure_hook(bytes, lambda value, _: bytes(value))
    # A row keeps the attribute names (the manifest's ``import``/``export`` are a file format).
    conv.register_unstructure_hook(Wire, _once(lambda: make_dict_unstructure_fn(Wire, conv)))
    return conv


def unstructure(value: object) -> Any:  # noqa: ANN401 - plain data of any shape
    """Plain data (dicts, lists, scalars) of a devarch value, in its documented format."""
    return converter().unstructure(value)


class Unstructured:
    """Base of the value classes whose plain data is what this module's converter makes of them.

    ``to_data()`` is then the one format of the class: plans and ``--json`` output, manifests,
    lockfiles and templates. What a format omits or orders is configured here
    (:func:`_configure`), once per class, not in the class.
    """

    __slots__ = ()

    def to_data(self) -> dict[str, Any]:
        """Plain data in the class's documented format (defaults omitted where it says so)."""
        data: dict[str, Any] = unstructure(self)
        return data


def problems_of(exc: BaseException) -> list[Problem]:
    """Every leaf error of a cattrs structuring error, each with its path (``actions[0].field``)."""
    from cattrs import BaseValidationError  # noqa: PLC0415
    from cattrs.errors import (  # noqa: PLC0415
        AttributeValidationNote,
        ForbiddenExtraKeysError,
        IterableValidationNote,
    )

    found: list[Problem] = []

    def walk(error: BaseException, path: str, expected: object = None) -> None:
        if isinstance(error, BaseValidationError):
            for inner in error.exceptions:
                note = next(
                    (
                        n
                        for n in getattr(inner, "__notes__", [])
                        if isinstance(n, AttributeValidationNote | IterableValidationNote)
                    ),
                    None,
                )
                if isinstance(note, AttributeValidationNote):
                    step = f"{path}.{note.name}" if path else str(note.name)
                elif isinstance(note, IterableValidationNote) and isinstance(note.index, str):
                    # A mapping key: ``instances.web``, as the manifest paths name it.
                    step = f"{path}.{note.index}" if path else note.index
                elif isinstance(note, IterableValidationNote):
                    step = f"{path}[{note.index}]"
                else:
                    step = path
                walk(inner, step, None if note is None else note.type)
        elif isinstance(error, ForbiddenExtraKeysError):
            found.extend(
                Problem(f"{path}.{key}" if path else key, "unknown key")
                for key in sorted(error.extra_fields)
            )
        elif isinstance(error, KeyError):
            found.append(Problem(path, "required"))
        else:
            found.append(Problem(path, _message(error, expected)))

    walk(exc, "")
    return found


def _message(error: BaseException, expected: object) -> str:
    """Say what was expected instead of Python's wording, where the type says it."""
    import attrs  # noqa: PLC0415

    origin = getattr(expected, "__origin__", None)
    if origin is Literal:
        choices = ", ".join(repr(c) for c in getattr(expected, "__args__", ()))
        return f"expected one of {choices}"
    is_class = isinstance(expected, type) and attrs.has(expected)
    is_mapping = is_class or origin in (dict, Mapping) or expected in (dict, Mapping)
    if is_mapping and isinstance(error, TypeError | AttributeError):
        return "expected a mapping"
    return str(error) or type(error).__name__


def structure(data: object, cls: type[T], *, what: str) -> T:
    """Build ``cls`` from plain data; ``ManifestError`` listing every bad value by its path."""
    from cattrs import BaseValidationError  # noqa: PLC0415

    try:
        return converter().structure(data, cls)
    except (BaseValidationError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ManifestError(problems_of(exc), what=what) from None


def structure_row(data: Mapping[str, object], cls: type[T]) -> T:
    """Build a store row's value (``Stack``, ``Instance``...) from its column mapping.

    A row of a class whose fields are all plain (text, numbers, flags, bytes, optional text,
    overrides, a text mapping) and whose values are all of their field's type is built directly,
    without cattrs (whose import and set-up are a good part of a short CLI command such as
    ``status``); any other row, and any value that does not fit, goes through the converter, so
    the result and the errors are the converter's.
    """
    fast = _fast_row(cast("type", cls))
    if fast is not None:
        built = fast(data)
        if built is not _NOT_FAST:
            return cast("T", built)
    return _row_converter().structure(dict(data), cls)


#: :func:`_fast_row`'s "this row needs the converter".
_NOT_FAST: Final = object()

_Check = Callable[[object], tuple[bool, object]]


def _plain_check(tp: object) -> _Check | None:  # noqa: C901, PLR0911 - one return per kind of field
    """How the row converter structures a value of type ``tp``, when it is that simple."""
    import types  # noqa: PLC0415
    import typing  # noqa: PLC0415

    from devarch_core.overrides import Overrides  # noqa: PLC0415

    if tp is str:
        return lambda v: (isinstance(v, str), v)
    if tp is int:
        return lambda v: (isinstance(v, int) and not isinstance(v, bool), v)
    if tp is bool:  # the row converter's hook: a driver's 0/1 is a bool
        return lambda v: (True, bool(v))
    if tp is bytes:  # the row converter's hook: memoryview (and bytes) as bytes
        return lambda v: (
            (True, bytes(v)) if isinstance(v, bytes | bytearray | memoryview) else (False, None)
        )
    if tp is Overrides:

        def overrides(v: object) -> tuple[bool, object]:
            if isinstance(v, Overrides):
                return True, v
            try:
                return True, Overrides.from_data(v)
            except Exception:  # noqa: BLE001 - the converter raises its own error for it
                return False, None

        return overrides
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:  # noqa: PLR2004 - X | None
        inner = _plain_check(next(a for a in args if a is not type(None)))
        if inner is None:
            return None
        return lambda v: (True, None) if v is None else inner(v)
    if origin in (Mapping, dict) and args == (str, str):
        return lambda v: (
            isinstance(v, Mapping)
            and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()),
            dict(v) if isinstance(v, Mapping) else v,
        )
    return None


@functools.cache
def _fast_row(cls: type) -> Callable[[Mapping[str, object]], object] | None:  # noqa: C901 - checks then the builder
    """A direct builder of ``cls`` from a row, or None when a field is not plain."""
    import typing  # noqa: PLC0415

    import attrs  # noqa: PLC0415

    if not attrs.has(cls):
        return None
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - the converter resolves (or refuses) them itself
        return None
    checks: list[tuple[str, bool, _Check]] = []
    for a in attrs.fields(cls):
        check = _plain_check(hints.get(a.name))
        if not a.init or a.alias != a.name or check is None:
            return None
        checks.append((a.name, a.default is attrs.NOTHING, check))
    names = frozenset(name for name, _, _ in checks)

    def build(data: Mapping[str, object]) -> object:
        if not names.issuperset(data):  # an unknown column: the converter refuses it
            return _NOT_FAST
        kwargs: dict[str, object] = {}
        for name, required, check in checks:
            if name not in data:
                if required:
                    return _NOT_FAST
                continue
            ok, value = check(data[name])
            if not ok:
                return _NOT_FAST
            kwargs[name] = value
        try:
            return cls(**kwargs)
        except Exception:  # noqa: BLE001 - the converter raises its own error for it
            return _NOT_FAST

    return build


def row(value: object) -> dict[str, Any]:
    """The column mapping of a store value (the inverse of :func:`structure_row`)."""
    data: dict[str, Any] = _row_converter().unstructure(value)
    return data
