"""One exception class per problem area.

They derive from pyinfra's ``PyinfraError`` so the CLI prints them as one line (``--> pyinfra
error: ...``) instead of a traceback. Messages name keys, parameters and secrets, never a value.
"""

from pyinfra.api.exceptions import PyinfraError


class SsmEnvError(PyinfraError):
    """Base class of the toolkit's errors."""


class ConfigError(SsmEnvError):
    """Host data, or the variables it asks for, are not valid."""


class SourceError(SsmEnvError):
    """A configuration source (SSM, Secrets Manager) could not be read."""
