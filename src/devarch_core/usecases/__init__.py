"""The use cases: plain services, one module per area, composed by the facade.

:class:`~devarch_core.app.Devarch` builds them and delegates to them.

- ``stacks``: create, list, show, update, enable/disable, delete, clone
- ``instances``: add, overrides (set/unset), duplicate, rename, remove; effective config
- ``wires``: explicit wires
- ``secrets``: set, unset, list; ``keys``: the store's key, rotation, the doctor's key check
- ``planner``: desired state, plan, compose preview, wiring graph
- ``apply``: apply, down, status
- ``manifests``: devarch.yml export/import, devarch.lock, init
- ``resolution``: the one-pass data path (wiring on declared contracts, one merge per instance)
- ``rules``: the write-time rules; ``engines``: engine selection and the stack lock

Each service takes one :class:`~devarch_core.usecases._context.Context` (the unit of work, one
store transaction per use case so a refused call leaves the store as it was; the shared ports and
settings; the shared services, built on first use); shared helpers are functions in ``_helpers``. No
service inherits from another.
"""
