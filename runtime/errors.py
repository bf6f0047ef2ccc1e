"""The runtime's errors: each one is something a user can fix, so each subclasses ``NeuroLiteError``.

The CLI prints these as one line; the message always names the bundle, file, field or package.
"""

from __future__ import annotations

from neurolite_sdk.errors import NeuroLiteError


class BundleError(NeuroLiteError):
    """A bundle that cannot be used: missing, malformed or newer manifest, a bad or missing file."""


class BackendUnavailableError(NeuroLiteError):
    """The bundle is fine but this machine cannot run its format (a missing package or platform)."""


class RuntimeNotInstalledError(BackendUnavailableError):
    """The format's runtime package is not installed; the message names the pip extra to install."""

    def __init__(self, fmt: str, package: str, extra: str) -> None:
        super().__init__(f"{fmt}: running this format needs the '{package}' package, which is not installed; "
                         f"install it with: pip install 'neurolite-sdk[{extra}]'")
        self.package = package
        self.extra = extra


class PlatformUnsupportedError(BackendUnavailableError):
    """The format's runtime exists only on another platform (Core ML runs only on macOS).

    ``reason`` is the short form ("needs macOS") that reports and manifests record.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PredictionInputError(NeuroLiteError):
    """Bad input to ``predict`` or ``run``: an empty text list, a missing or misshapen tensor."""


class ModelRunError(BundleError):
    """The runtime failed running a verified bundle's model, or the model returned outputs that are not
    what its signature declares (another shape, non-finite logits): the model file is damaged or was not
    written by the NeuroLite exporter. The message names the file, the signature and the cause."""
