"""The case report's one error type, shared by loading a run and rendering a page."""

from __future__ import annotations

__all__ = ["ReportError"]


class ReportError(ValueError):
    """The report cannot be made (unknown account, missing or changed run); one line."""
