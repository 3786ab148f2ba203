"""lamina.nn."""

__all__: list[str] = []
