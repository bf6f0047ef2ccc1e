"""The SDK's base error: anything a user can fix by changing their input.

Every module raises a subclass (``DataError``, ``ConfigError``, ``CheckpointError``, ...) whose
message names the file, field or line. The CLI turns exactly these into one-line errors; anything
else is a bug and keeps its traceback.
"""


class NeuroLiteError(ValueError):
    """Bad input, with a message that says what and where."""
