"""lamina.rewrite."""

__all__: list[str] = []
