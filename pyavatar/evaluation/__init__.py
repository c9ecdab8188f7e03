"""Evaluation harnesses: lip-sync datasets, metrics, synthetic speech (espeak-ng) and profile training."""
