"""Stage 3: motion → frames."""
