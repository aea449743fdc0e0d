"""One exception family, so the CLI and the GUI can show a one-line message instead of a traceback."""


class Im2ImError(Exception):
    """Base class for every error the library raises on bad input."""


class CheckpointError(Im2ImError):
    """A checkpoint is missing, corrupt, unsafe or not ours."""


class InputError(Im2ImError, ValueError):
    """An image or array cannot be processed as given."""


class ConfigError(Im2ImError, ValueError):
    """A configuration value is unknown or out of range."""


class Cancelled(Im2ImError):
    """The caller asked the work to stop (GUI Cancel, Ctrl-C in scripts)."""


class NonFiniteLoss(Im2ImError):
    """A training loss became NaN or Inf; the last good checkpoint is kept."""


class NonFiniteOutput(Im2ImError):
    """A model produced NaN or Inf; never returned silently."""


class NotStreamable(UserWarning):
    """A large image could not be streamed exactly (im2im_core.stream); the warning names the part of
    the network that stopped it and says what ran instead."""


class OutsideTraining(UserWarning):
    """An input unlike anything the model was trained on: it runs, and the warning names the difference."""
