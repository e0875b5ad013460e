"""The one error type a user sees: a one-line message and exit code 2, never a traceback."""


class UsageError(Exception):
    """Bad input from the user: config, paths, data rows, checkpoints.

    The CLI catches it, prints `selfcorrect: error: <message>` and exits with code 2.
    Raise it with a message that names the thing that is wrong and, where useful, the fix.
    """
