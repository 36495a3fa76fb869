"""How the input contract reports what is wrong: one :class:`Problem` per class of problem,
all of them in one :class:`InputError`; repairs as :class:`InputWarning`."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["InputError", "InputWarning", "Problem", "shown"]


def shown(text: object) -> str:
    """``text`` safe to print on a terminal: characters that are not printable (controls
    such as ESC, invisible format characters) escaped as in Python literals.

    Ids, reasons and file names come from the data: printed raw, an escape
    sequence in them would clear the screen or retitle the window. Ordinary
    text, accents and other scripts included, prints as it is.

    Examples
    --------
    >>> print(shown("acc\\x1b[2J\\u200bount"))
    acc\\x1b[2J\\u200bount
    """
    text = str(text)
    if text.isprintable():
        return text
    # a loop over the characters of one name or file label, never over rows
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


class InputWarning(UserWarning):
    """Something in the input was repaired (duplicates or self-loops dropped)."""


@dataclass
class Problem:
    """One class of problem in one table: what, where, how many, examples."""

    table: str
    source: str
    column: str | None
    message: str
    n_rows: int = 0
    examples: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        # file and column names come from the user (headers, paths): printed escaped
        where = shown(str(self.source))
        if self.column is not None:
            where += f", column '{shown(str(self.column))}'"
        text = f"{where}: {self.message}"
        if self.n_rows:
            text += f" ({self.n_rows:,} row{'s' if self.n_rows != 1 else ''})"
        if self.examples:
            text += "\n" + "\n".join(f"    {e}" for e in self.examples)
        return text


class InputError(ValueError):
    """The input tables break the contract. ``problems`` lists every class found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the input:"
        super().__init__(head + "\n" + "\n".join(f"- {p}" for p in self.problems))
