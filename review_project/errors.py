"""Errors a user can cause. The CLI prints each as one line and exits non-zero."""


class ReviewError(Exception):
    """Base class: the message says what went wrong and where, never any transcript text."""

    exit_code = 1


class RecordError(ReviewError):
    """A red-team file or record that cannot be read (names the file and the record)."""

    exit_code = 2


class SampleError(ReviewError):
    """A sample that cannot be drawn as asked (names the stratum)."""

    exit_code = 2


class ManifestError(ReviewError):
    """A manifest or reviewers file that cannot be read (names the file and line)."""

    exit_code = 2


class LabelStudioError(ReviewError):
    """Label Studio could not be reached, refused the key, or answered unexpectedly."""


class ExportError(ReviewError):
    """An export file or table that cannot be read."""

    exit_code = 2


class WorkerError(ReviewError):
    """The check-in worker's settings or store are unusable (names the variable or the database)."""

    exit_code = 2


class SetupError(ReviewError):
    """Setup options that cannot work together (names the option to fix)."""

    exit_code = 2
