"""The web adapter: an HTTP API and the dashboard over the ``Devarch`` facade.

``devarch serve`` builds it with :func:`devarch_adapters.web.app.create_app` and runs it with
uvicorn. Nothing here is imported unless the server runs (the CLI's start-up time matters), and
no domain rule lives here: every route calls one facade method and renders its result. See
docs/web.md for the API, the authentication and the threat model.
"""
