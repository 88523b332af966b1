"""syncworker: links and syncs an accounting practice's clients with its practice-management systems."""

__version__ = "0.1.0"
