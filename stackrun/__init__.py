"""stackrun: run a multi-service stack as isolated Linux processes."""

__version__ = "0.1.0"
