"""A stand-in for a user's terminal: jaxnet draws its progress bar only where ``sys.stderr.isatty()``."""

import io


class Terminal(io.StringIO):
    """A text stream that says it is a terminal; what was drawn on it is ``getvalue()``."""

    def isatty(self):
        return True
