"""The ``wormsign`` command line: a thin skin over the library.

Each subcommand lives in its own module with ``register(subparsers)`` adding its parser and a
``run(args) -> int`` entry point. The library never imports this package.
"""
