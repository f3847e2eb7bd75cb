"""devarch: isolated local multi-container stacks from one template catalog (the pure core)."""
