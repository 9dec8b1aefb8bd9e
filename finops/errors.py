"""Errors shown to the person who asked, with what to do next."""


class UserError(Exception):
    """A problem the user can fix (bad input, missing setting, unreadable file).

    The message is shown as it is: say what was wrong and what to do next.
    """
