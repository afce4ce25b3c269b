"""Words, not emoji, in the status page's execution table.

myst-nb's ``{nb-exec-table}`` marks each chapter with "✅" or "❌", which render as
empty boxes where no emoji font is installed. This extension has the table say
"succeeded" or "failed" instead; it changes nothing else in the table.
"""

from myst_nb.ext import execution_tables


def _status_word(succeeded) -> str:
    return "succeeded" if succeeded is True else "failed"


def setup(app):
    execution_tables._key2transform["succeeded"] = _status_word
    return {"parallel_read_safe": True, "parallel_write_safe": True}
