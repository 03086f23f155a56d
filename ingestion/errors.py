"""The one error type that ingestion raises for a file it cannot take."""


class IngestError(Exception):
    """A file that cannot be ingested.

    ``str(err)`` is a one-line, human reason (no traceback, no file path — the caller prefixes the path).
    """
