"""Exception types of had_ros. Every bad input raises one of these with a message that names
what was wrong and what was expected."""


class HadError(Exception):
    """Base class of every error had_ros raises on purpose."""


class DecodeError(HadError, ValueError):
    """An event stream or packet could not be decoded (unknown encoding, corrupt words...)."""


class EventFileError(HadError, ValueError):
    """An event file is missing, truncated or of an unknown format."""


class DatasetError(HadError, ValueError):
    """A dataset folder or one of its files is missing or malformed (the message names the file)."""


class ModelConfigError(HadError, ValueError):
    """A model config or checkpoint does not match what was asked for."""


class TrackingError(HadError, ValueError):
    """Bad input to the tracking runtime (NaN box, wrong image size, ...)."""


class DatasetWarning(UserWarning):
    """A dataset quirk that was tolerated (trimmed counts, frames outside the event stream, ...);
    the message names the files and what was done."""
