"""lamina.uop."""

__all__: list[str] = []
