"""devarch adapters: SQLite, PostgreSQL, Docker, Podman, filesystem and the CLI."""
