"""How every kubeward command prints errors and warnings on stderr.

Messages quote URLs, paths, drivers and RBAC rules: printed without Rich markup or
highlighting and without hard wrapping, so they stay copyable."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

_stderr = Console(stderr=True)


def print_error(message: str) -> None:
    _stderr.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True, highlight=False)


def print_warning(message: str) -> None:
    _stderr.print(
        Text.assemble(("warning:", "yellow"), " ", message), soft_wrap=True, highlight=False
    )
