"""Diffusion motion generation: conformer denoiser, DDIM sampler, streaming generator, controls."""

from pyavatar.motion.diffusion.ssl import SSLConfig, SSLEncoder, load_ssl_encoder

__all__ = ["SSLConfig", "SSLEncoder", "load_ssl_encoder"]
