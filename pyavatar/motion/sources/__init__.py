"""Motion sources behind the registry (:mod:`pyavatar.motion.registry`): ``dsp``, ``learned``, ``diffusion``, ``joyvasa``."""
