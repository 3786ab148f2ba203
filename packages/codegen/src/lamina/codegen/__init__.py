"""lamina.codegen."""

__all__: list[str] = []
