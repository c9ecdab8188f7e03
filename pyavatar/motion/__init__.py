"""Audio → motion: lip engines, procedural motion and learned motion generators."""
