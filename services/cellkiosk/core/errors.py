"""The few error types that decide what happens to a job."""

from __future__ import annotations


class CellkioskError(Exception):
    """Base class of cellkiosk's own errors."""


class BadInputError(CellkioskError):
    """The input cannot be analysed; the message tells a biologist why and what to do.

    A job that raises it fails at once (no retry) with the message as its reason.
    """


class TransientError(CellkioskError):
    """A dependency was briefly unavailable; the job is retried with backoff."""


class CancelledError(CellkioskError):
    """The job was cancelled by its owner; it stops at the next stage boundary."""


class UnavailableError(CellkioskError):
    """A dependency stayed unreachable past its configured deadline (retries are spent).

    A job that raises it fails with the message, which names the dependency and its address.
    """
