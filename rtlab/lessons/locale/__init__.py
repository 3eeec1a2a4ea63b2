"""Message catalogues, one module per language: ``MESSAGES = {English msgid: translation}``."""
