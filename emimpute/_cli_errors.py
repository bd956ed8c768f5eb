"""How the ``emimpute`` command fails: the error of a user's input, and the
exit statuses.

A :class:`CLIError` ends as one line on stderr and :data:`USER_ERROR`
(:func:`emimpute._cli.main`); anything unexpected ends as
:data:`INTERNAL_ERROR`. Its own module, below the others of the command
line: the output checks (:mod:`emimpute._cli_output`), which the commands
import, raise the commands' error, and the parser
(:mod:`emimpute._cli_parser`) exits with the same status. Nothing is
imported.
"""

USER_ERROR = 2
INTERNAL_ERROR = 1


class CLIError(Exception):
    """A problem with the user's input, reported as one line."""
