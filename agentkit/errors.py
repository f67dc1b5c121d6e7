"""The base of every user-facing error: the CLI prints these as one line, never a traceback."""


class AgentkitError(Exception):
    """A user error (bad name, bad field, bad file) whose message says what to fix."""
