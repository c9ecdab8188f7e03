"""Audio input and speech features (stage 1 of audio → motion → render → outputs)."""
