"""pyavatar: a real-time avatar runtime that animates one portrait from live audio."""

__version__ = "0.1.0"
