"""Motion sources behind the registry (:mod:`pyavatar.motion.registry`).

The built-in ones: ``dsp``, ``learned``, ``diffusion``, ``joyvasa``, ``video``, ``hybrid``, ``video-keypoints``.
"""
