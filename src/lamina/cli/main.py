"""The `lamina` command: `lamina mnist` trains a network, `lamina bench` measures speed, `lamina generate` continues
text with a language model; errors are one clear line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lamina.cli import bench, generate, mnist


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lamina", description="lamina: a small tensor compiler")
    commands = parser.add_subparsers(dest="command", required=True)
    mnist.add_arguments(commands.add_parser("mnist", help="train a network on MNIST or Fashion-MNIST"))
    bench.add_arguments(commands.add_parser("bench", help="benchmark lamina against numpy (and torch)"))
    generate.add_arguments(commands.add_parser("generate", help="continue a prompt with GPT-2 or Llama"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        if arguments.command == "mnist":
            return mnist.run(arguments)
        if arguments.command == "bench":
            return bench.run(arguments)
        if arguments.command == "generate":
            return generate.run(arguments)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"lamina {arguments.command}: error: {error}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
