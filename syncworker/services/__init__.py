"""Service layer: use cases that orchestrate the domain, the store and the adapters. Entry points (CLI,
HTTP, scheduler) call these and nothing deeper."""
