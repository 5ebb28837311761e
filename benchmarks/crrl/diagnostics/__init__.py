"""One-off diagnostics (frozen): each module's docstring says what it asked and what it found."""
