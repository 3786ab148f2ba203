"""lamina.gradient."""

__all__: list[str] = []
