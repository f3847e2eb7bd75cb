"""The use cases, one module per area, mixed into the :class:`~devarch_core.app.Devarch` facade.

- ``stacks``: create, list, show, update, enable/disable, delete, clone
- ``instances``: add, overrides (set/unset), duplicate, rename, remove; effective config and wiring
- ``secrets``: set, unset, list, key rotation
- ``wires``: explicit wires
- ``apply``: plan, apply, down, status, compose preview, wiring graph
- ``manifests``: devarch.yml export/import, devarch.lock, init

Each use case runs in one store transaction, so a refused call leaves the store as it was.
"""
