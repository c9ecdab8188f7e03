"""Training data tools: multi-synthesizer speech, forced alignment, real-speech importers, the dataset manifest."""
