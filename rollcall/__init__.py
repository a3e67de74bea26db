"""Operating Rollcall: migrations, the demo event, and the local stack (`rollcall --help`).

This package composes the services; the services never import it, nor each other."""
