"""Wire use cases: explicit wires between instances (automatic ones are computed at plan)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import frozen

from devarch_core.errors import NotFoundError, ValidationError
from devarch_core.model import Wire
from devarch_core.usecases._helpers import Service, instance_of, stack_of, template_for

if TYPE_CHECKING:
    from devarch_core.model import Instance, Stack
    from devarch_core.ports import StoreSession

__all__ = ["ImportChoice", "WireService"]


@frozen(kw_only=True)
class ImportChoice:
    """One import of a consumer, with the providers that could satisfy it (a wiring picker).

    ``state`` says how the import stands before any plan: ``explicit`` (a wire pins it),
    ``auto`` (exactly one enabled candidate: auto-wiring takes it), ``ambiguous`` (several:
    the user must pick one), ``missing`` (none). The plan's wiring diagnostics stay the final
    word (they also see cycles and export names).
    """

    name: str
    type: str
    required: bool
    #: The explicit wire of this import, if any (its ``provider`` is None for "left unwired").
    wire: Wire | None
    #: Enabled instances other than the consumer whose template exports ``type``, by name.
    candidates: tuple[str, ...]

    @property
    def state(self) -> str:
        """``explicit``, ``auto``, ``ambiguous`` or ``missing``."""
        if self.wire is not None:
            return "explicit"
        if len(self.candidates) == 1:
            return "auto"
        return "ambiguous" if self.candidates else "missing"


class WireService(Service):
    """Explicit wires between instances (ports: the catalog, for the templates' contracts)."""

    def list_wires(self, stack: str) -> list[Wire]:
        """A stack's explicit wires."""
        with self._ctx.uow.transaction() as tx:
            return tx.list_wires(stack_of(tx, stack).id)

    def import_choices(self, stack: str, consumer: str) -> list[ImportChoice]:
        """The imports of ``consumer`` with their explicit wire and candidate providers."""
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            cons = instance_of(tx, st, consumer)
            wires = {w.import_name: w for w in tx.list_wires(st.id) if w.consumer == consumer}
            others = [i for i in tx.list_instances(st.id) if i.enabled and i.id != cons.id]
        catalog = self._ctx.catalog
        exported = {i.name: {e.type for e in template_for(catalog, i).exports} for i in others}
        return [
            ImportChoice(
                name=imp.name,
                type=imp.type,
                required=imp.required,
                wire=wires.get(imp.name),
                candidates=tuple(sorted(n for n, types in exported.items() if imp.type in types)),
            )
            for imp in template_for(self._ctx.catalog, cons).imports
        ]

    def add_wire(
        self,
        stack: str,
        consumer: str,
        import_name: str,
        provider: str | None,
        *,
        export: str | None = None,
    ) -> Wire:
        """Pin a provider for one import of a consumer (replaces an earlier pin for that import).

        ``provider=None`` leaves an optional import unwired on purpose; a required import is
        refused (``ValidationError``).
        """
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            cons = instance_of(tx, st, consumer)
            if provider is None:
                return self._leave_unwired(tx, st, cons, import_name, export)
            prov = instance_of(tx, st, provider)
            if cons.id == prov.id:
                raise ValidationError(f"{consumer} cannot be wired to itself", what="invalid wire")
            imports = template_for(self._ctx.catalog, cons).imports
            imp = next((i for i in imports if i.name == import_name), None)
            if imp is None:
                names = ", ".join(i.name for i in imports) or "none"
                raise NotFoundError(
                    "import", f"{consumer}.{import_name}", hint=f"imports of {consumer}: {names}"
                )
            exports = [
                e
                for e in template_for(self._ctx.catalog, prov).exports
                if e.type == imp.type and (export is None or e.name == export)
            ]
            if not exports:
                raise ValidationError(
                    f"{provider} exports no {imp.type!r} contract"
                    + (f" named {export!r}" if export else ""),
                    what="invalid wire",
                )
            wire = Wire(
                consumer=consumer, import_name=import_name, provider=provider, export_name=export
            )
            tx.put_wire(st.id, wire)
        return wire

    def _leave_unwired(
        self, tx: StoreSession, st: Stack, cons: Instance, import_name: str, export: str | None
    ) -> Wire:
        imports = template_for(self._ctx.catalog, cons).imports
        imp = next((i for i in imports if i.name == import_name), None)
        if imp is None:
            names = ", ".join(i.name for i in imports) or "none"
            hint = f"imports of {cons.name}: {names}"
            raise NotFoundError("import", f"{cons.name}.{import_name}", hint=hint)
        if export is not None:
            raise ValidationError(
                "--export names an export of a provider; an unwired import has none",
                what="invalid wire",
            )
        if imp.required:
            raise ValidationError(
                f"{cons.name}.{import_name} is a required import of {cons.template}; it cannot "
                "be left unwired (wire it to a provider: "
                f"devarch wire add {st.name} {cons.name} {import_name} PROVIDER)",
                what="invalid wire",
            )
        wire = Wire(consumer=cons.name, import_name=import_name, provider=None)
        tx.put_wire(st.id, wire)
        return wire

    def remove_wire(self, stack: str, consumer: str, import_name: str) -> None:
        """Drop an explicit wire (auto-wiring applies again)."""
        with self._ctx.uow.transaction() as tx:
            if not tx.delete_wire(stack_of(tx, stack).id, consumer, import_name):
                raise NotFoundError("wire", f"{stack}: {consumer}.{import_name}")
