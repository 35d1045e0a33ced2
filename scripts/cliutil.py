"""argparse help that shows a default only where there is one worth showing."""

from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends '(default: X)' unless the default is None/False (nothing to say) or already mentioned."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        boring = action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0  # flags
        if "%(default)" in text or boring or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"
