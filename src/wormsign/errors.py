"""The exception tree of wormsign.

Every error the library raises on purpose derives from :class:`WormsignError`; the CLI turns
them into one-line messages and exit status 2, the web app into one JSON error shape.

    WormsignError
    ├── InputError            a file cannot be read or decoded (names the file, maybe the line)
    │   ├── LogFormatError    no reader accepts the file, or a forced format does not fit
    │   └── ConfigError       bad parameters, presets or inventories
    │       └── ValidationError  a data file (playbook, advisory, preset) is invalid
    │                            (carries every problem found, each with file and line)
    ├── RuleError             a rule pack is invalid (carries every problem found)
    ├── MissingExtraError     a command needs an optional extra that is not installed
    └── StoreError            the incident store refused an operation
        ├── NotFoundError     no such incident, task, token (HTTP 404)
        ├── ConflictError     the record's state forbids it, e.g. a closed incident (HTTP 409)
        └── InvalidError      a value given to the store is invalid (HTTP 400)
"""

from __future__ import annotations

from dataclasses import dataclass


class WormsignError(Exception):
    """Root of all wormsign errors."""


class InputError(WormsignError):
    """An input file cannot be read; ``path`` and ``line`` say where."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        return f"{where}{self.message}"


class LogFormatError(InputError):
    """No log reader accepts the input, or the forced format does not fit it."""


class ConfigError(InputError):
    """Invalid parameters, presets, inventories or configuration files."""


class StoreError(WormsignError):
    """The incident store refused an operation."""


@dataclass(frozen=True)
class Problem:
    """One problem found while validating a data file (rules, presets, inventories)."""

    path: str
    line: int | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.severity}: {self.message}"


class RuleError(WormsignError):
    """A rule pack is invalid; ``problems`` lists every problem, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in rule pack"
        return head + "".join(f"\n  {p}" for p in self.problems)


class ValidationError(ConfigError):
    """A data file is invalid; ``problems`` lists every problem (file, line, message), not
    only the first. ``path`` and ``line`` are the first problem's. As text: one problem is one
    line (``file:line: message``); several are a head line and one line per problem, as a
    :class:`RuleError` reads."""

    def __init__(self, problems: list[Problem], what: str = "file") -> None:
        self.problems = list(problems)
        self.what = what
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in {what}"
        first = self.problems[0] if self.problems else None
        if first is not None and n == 1:
            super().__init__(first.message, path=first.path, line=first.line)
        else:
            super().__init__(head, path=first.path if first else None,
                             line=first.line if first else None)

    def __str__(self) -> str:
        if len(self.problems) == 1:  # one problem: one line, as any other InputError
            return super().__str__()
        return self.message + "".join(f"\n  {p}" for p in self.problems)


class NotFoundError(StoreError):
    """The incident, task, token or other record asked for does not exist (HTTP 404)."""


class ConflictError(StoreError):
    """The operation conflicts with the record's state, e.g. evidence for a closed incident
    or an ambiguous task reference (HTTP 409)."""


class InvalidError(StoreError):
    """A value given to the store is invalid: a task status, a network, a name (HTTP 400)."""


class MissingExtraError(WormsignError):
    """A command needs an optional extra that is not installed (the message says which and
    how to install it: ``pip install 'wormsign[EXTRA]'``)."""
