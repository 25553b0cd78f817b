"""Writing output files from the CLI: a failure is a one-line error naming the file."""

from __future__ import annotations

from wormsign.errors import InputError


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8, newlines as given)."""
    try:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None
