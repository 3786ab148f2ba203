"""lamina.cli: the `lamina` command line (mnist, bench)."""
