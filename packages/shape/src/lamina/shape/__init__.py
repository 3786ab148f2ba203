"""lamina.shape."""

__all__: list[str] = []
