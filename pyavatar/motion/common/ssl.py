"""HuBERT / wav2vec 2.0 speech encoders in plain PyTorch, loaded from a local Hugging Face model directory.

``transformers`` is not needed: :class:`SSLEncoder` re-implements the
inference path of ``HubertModel`` / ``Wav2Vec2Model`` (convolutional front end,
feature projection, convolutional position embedding, post-LN or "stable"
pre-LN transformer) with the same parameter names, so a directory holding
``config.json`` and ``model.safetensors`` (or ``pytorch_model.bin``) loads
directly. Output is one hidden state per 20 ms (50 Hz) of 16 kHz audio.

The position convolution is weight-normalised; both spellings of its
parameters are accepted (``weight_g``/``weight_v`` from older checkpoints and
``parametrizations.weight.original0/1`` from newer ones) and mapped onto one
pair, so fine-tuned values are never dropped silently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SAMPLE_RATE = 16_000
#: Key prefixes of task heads around the bare encoder (``HubertForCTC`` etc.).
_WRAPPER_PREFIXES = ("hubert.", "wav2vec2.", "model.")
_WEIGHT_NORM_ALIASES = {
    "encoder.pos_conv_embed.conv.parametrizations.weight.original0": "encoder.pos_conv_embed.conv.weight_g",
    "encoder.pos_conv_embed.conv.parametrizations.weight.original1": "encoder.pos_conv_embed.conv.weight_v",
}
_IGNORED = ("masked_spec_embed", "quantizer.", "project_q.", "project_hid.", "lm_head.", "final_proj.", "label_embs")


@dataclass(frozen=True)
class SSLConfig:
    """Architecture of a HuBERT / wav2vec 2.0 encoder (the fields of its HF ``config.json`` that matter)."""

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    conv_dim: tuple[int, ...] = (512,) * 7
    conv_kernel: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    conv_bias: bool = False
    feat_extract_norm: str = "group"
    do_stable_layer_norm: bool = False
    feat_proj_layer_norm: bool = True
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    layer_norm_eps: float = 1e-5
    model_type: str = "hubert"
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not (len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride)):
            raise ValueError(
                f"SSLConfig: conv_dim/conv_kernel/conv_stride lengths differ: "
                f"{len(self.conv_dim)}/{len(self.conv_kernel)}/{len(self.conv_stride)}"
            )
        if self.feat_extract_norm not in ("group", "layer"):
            raise ValueError(f"SSLConfig: feat_extract_norm must be 'group' or 'layer', got {self.feat_extract_norm!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"SSLConfig: hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}"
            )

    @classmethod
    def from_dict(cls, d: Mapping) -> SSLConfig:
        """From a HF ``config.json`` dictionary (unknown keys are kept in ``extra``)."""
        known = {f.name for f in fields(cls)} - {"extra"}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known}
        if d.get("model_type") == "wav2vec2":
            kw.setdefault("feat_proj_layer_norm", True)
        return cls(**kw, extra={k: v for k, v in d.items() if k not in known})

    @property
    def frame_rate(self) -> float:
        """Output frames per second at 16 kHz."""
        return SAMPLE_RATE / math.prod(self.conv_stride)


class _ConvLayer(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int, s: int, bias: bool, norm: str | None, eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, k, stride=s, bias=bias)
        self.norm_kind = norm
        if norm == "group":
            self.layer_norm = nn.GroupNorm(c_out, c_out, affine=True)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(c_out, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.norm_kind == "group":
            x = self.layer_norm(x)
        elif self.norm_kind == "layer":
            x = self.layer_norm(x.transpose(1, 2)).transpose(1, 2)
        return F.gelu(x)


class _FeatureExtractor(nn.Module):
    def __init__(self, cfg: SSLConfig) -> None:
        super().__init__()
        layers = []
        c_in = 1
        for i, (c, k, s) in enumerate(zip(cfg.conv_dim, cfg.conv_kernel, cfg.conv_stride, strict=True)):
            norm = "layer" if cfg.feat_extract_norm == "layer" else ("group" if i == 0 else None)
            layers.append(_ConvLayer(c_in, c, k, s, cfg.conv_bias, norm, cfg.layer_norm_eps))
            c_in = c
        self.conv_layers = nn.ModuleList(layers)

    def forward(self, wav: Tensor) -> Tensor:
        x = wav[:, None]
        for layer in self.conv_layers:
            x = layer(x)
        return x  # (B, C, T)


class _FeatureProjection(nn.Module):
    def __init__(self, cfg: SSLConfig) -> None:
        super().__init__()
        self.has_norm = cfg.feat_proj_layer_norm
        if self.has_norm:
            self.layer_norm = nn.LayerNorm(cfg.conv_dim[-1], eps=cfg.layer_norm_eps)
        self.projection = nn.Linear(cfg.conv_dim[-1], cfg.hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.projection(self.layer_norm(x) if self.has_norm else x)


class _PosConv(nn.Module):
    """Grouped, weight-normalised convolution position embedding (norm over all dims but the tap)."""

    def __init__(self, cfg: SSLConfig) -> None:
        super().__init__()
        c, k, g = cfg.hidden_size, cfg.num_conv_pos_embeddings, cfg.num_conv_pos_embedding_groups
        self.groups, self.kernel = g, k
        self.weight_g = nn.Parameter(torch.ones(1, 1, k))
        self.weight_v = nn.Parameter(torch.randn(c, c // g, k) * 0.02)
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x: Tensor) -> Tensor:  # (B, C, T)
        v = self.weight_v
        w = self.weight_g * v / v.norm(dim=(0, 1), keepdim=True)
        y = F.conv1d(x, w, self.bias, padding=self.kernel // 2, groups=self.groups)
        if self.kernel % 2 == 0:
            y = y[..., :-1]
        return F.gelu(y)


class _PosConvEmbed(nn.Module):
    def __init__(self, cfg: SSLConfig) -> None:
        super().__init__()
        self.conv = _PosConv(cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


class _Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        h = self.heads
        q, k, v = (p(x).view(b, t, h, d // h).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        q = q * (d // h) ** -0.5
        attn = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
        return self.out_proj((attn @ v).transpose(1, 2).reshape(b, t, d))


class _FeedForward(nn.Module):
    def __init__(self, d: int, inner: int) -> None:
        super().__init__()
        self.intermediate_dense = nn.Linear(d, inner)
        self.output_dense = nn.Linear(inner, d)

    def forward(self, x: Tensor) -> Tensor:
        return self.output_dense(F.gelu(self.intermediate_dense(x)))


class _Layer(nn.Module):
    def __init__(self, cfg: SSLConfig) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.pre_ln = cfg.do_stable_layer_norm
        self.attention = _Attention(d, cfg.num_attention_heads)
        self.layer_norm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.feed_forward = _FeedForward(d, cfg.intermediate_size)
        self.final_layer_norm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        if self.pre_ln:
            x = x + self.attention(self.layer_norm(x))
            return x + self.feed_forward(self.final_layer_norm(x))
        x = self.layer_norm(x + self.attention(x))
        return self.final_layer_norm(x + self.feed_forward(x))


class _Encoder(nn.Module):
    def __init__(self, cfg: SSLConfig) -> None:
        super().__init__()
        self.pre_ln = cfg.do_stable_layer_norm
        self.pos_conv_embed = _PosConvEmbed(cfg)
        self.layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(cfg) for _ in range(cfg.num_hidden_layers))

    def forward(self, x: Tensor, all_states: bool) -> list[Tensor]:
        x = x + self.pos_conv_embed(x)
        if not self.pre_ln:
            x = self.layer_norm(x)
        states = [x] if all_states else []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.pre_ln and i == len(self.layers) - 1:
                x = self.layer_norm(x)
            if all_states or i == len(self.layers) - 1:
                states.append(x)
        if not self.layers:
            states = [self.layer_norm(x) if self.pre_ln else x]
        return states


class SSLEncoder(nn.Module):
    """HuBERT / wav2vec 2.0 encoder: (B, N) 16 kHz waveform → hidden states at 50 Hz.

    Parameter names follow Hugging Face's ``HubertModel``/``Wav2Vec2Model``, so
    their state dicts load with :meth:`load_hf_state_dict`.
    """

    def __init__(self, cfg: SSLConfig) -> None:
        super().__init__()
        self.config = cfg
        self.feature_extractor = _FeatureExtractor(cfg)
        self.feature_projection = _FeatureProjection(cfg)
        self.encoder = _Encoder(cfg)

    @property
    def num_states(self) -> int:
        """Number of hidden states returned with ``all_layers=True`` (embedding output + one per layer)."""
        return self.config.num_hidden_layers + 1

    def output_frames(self, n_samples: int) -> int:
        """Frames produced for ``n_samples`` of audio."""
        n = n_samples
        for k, s in zip(self.config.conv_kernel, self.config.conv_stride, strict=True):
            n = (n - k) // s + 1
        return max(n, 0)

    def forward(self, wav: Tensor, all_layers: bool = False) -> Tensor:
        """Last hidden state (B, T, C), or every state stacked (B, L+1, T, C) with ``all_layers``."""
        if wav.dim() != 2:
            raise ValueError(f"SSLEncoder: wav must be (B, N), got {tuple(wav.shape)}")
        x = self.feature_projection(self.feature_extractor(wav).transpose(1, 2))
        states = self.encoder(x, all_layers)
        return torch.stack(states, dim=1) if all_layers else states[-1]

    def load_hf_state_dict(self, state: Mapping[str, Tensor], *, strict: bool = True) -> list[str]:
        """Load a HF-style state dict (task-head prefixes and weight-norm spellings normalised).

        Returns the keys of this module that ``state`` did not provide (only
        allowed with ``strict=False``).
        """
        clean = normalise_ssl_keys(state)
        own = self.state_dict()
        unexpected = sorted(set(clean) - set(own))
        if unexpected:
            raise ValueError(f"SSLEncoder: unexpected weights {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        for k, v in clean.items():
            if tuple(v.shape) != tuple(own[k].shape):
                raise ValueError(
                    f"SSLEncoder: weight {k!r} has shape {tuple(v.shape)}, model expects {tuple(own[k].shape)}"
                )
        missing = sorted(set(own) - set(clean))
        if missing and strict:
            raise ValueError(f"SSLEncoder: missing weights {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        self.load_state_dict(clean, strict=False)
        return missing


def normalise_ssl_keys(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Strip task-head prefixes, map weight-norm spellings, drop training-only tensors."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        for p in _WRAPPER_PREFIXES:
            if key.startswith(p):
                key = key[len(p) :]
                break
        if key.startswith(_IGNORED):
            continue
        out[_WEIGHT_NORM_ALIASES.get(key, key)] = value
    return out


def infer_ssl_config(state: Mapping[str, Tensor]) -> SSLConfig:
    """Guess the architecture from weights alone (heads = hidden/64, standard strides).

    Works for the released HuBERT / wav2vec 2.0 base and large models; other
    shapes need the model's ``config.json``.
    """
    s = normalise_ssl_keys(state)
    try:
        proj = s["feature_projection.projection.weight"]
    except KeyError:
        raise ValueError("infer_ssl_config: no 'feature_projection.projection.weight' in the state dict") from None
    hidden = proj.shape[0]
    n_conv = len({k.split(".")[2] for k in s if k.startswith("feature_extractor.conv_layers.")})
    convs = [s[f"feature_extractor.conv_layers.{i}.conv.weight"] for i in range(n_conv)]
    kernels = tuple(int(w.shape[-1]) for w in convs)
    strides = (5, 2, 2, 2, 2, 2, 2) if kernels == (10, 3, 3, 3, 3, 2, 2) else None
    if strides is None:
        raise ValueError(f"infer_ssl_config: non-standard conv kernels {kernels}; pass the model's config.json")
    n_layers = len({k.split(".")[2] for k in s if k.startswith("encoder.layers.")})
    layer_norm_all = "feature_extractor.conv_layers.1.layer_norm.weight" in s
    v = s["encoder.pos_conv_embed.conv.weight_v"]
    return SSLConfig(
        hidden_size=hidden,
        num_hidden_layers=n_layers,
        num_attention_heads=max(hidden // 64, 1),
        intermediate_size=int(s["encoder.layers.0.feed_forward.intermediate_dense.weight"].shape[0])
        if n_layers
        else 4 * hidden,
        conv_dim=tuple(int(w.shape[0]) for w in convs),
        conv_kernel=kernels,
        conv_stride=strides,
        conv_bias="feature_extractor.conv_layers.0.conv.bias" in s,
        feat_extract_norm="layer" if layer_norm_all else "group",
        do_stable_layer_norm=layer_norm_all,
        feat_proj_layer_norm="feature_projection.layer_norm.weight" in s,
        num_conv_pos_embeddings=int(v.shape[-1]),
        num_conv_pos_embedding_groups=hidden // int(v.shape[1]),
    )


def read_hf_config(model_dir: str | Path) -> SSLConfig:
    """The :class:`SSLConfig` in ``model_dir/config.json``."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"no config.json in the speech model directory {model_dir}")
    return SSLConfig.from_dict(json.loads(path.read_text()))


def read_hf_weights(model_dir: str | Path) -> dict[str, Tensor] | None:
    """Weights in ``model_dir`` (``model.safetensors`` or ``pytorch_model.bin``, tensors only), or None."""
    model_dir = Path(model_dir)
    st = model_dir / "model.safetensors"
    if st.is_file():
        from safetensors.torch import load_file

        return load_file(st)
    binary = model_dir / "pytorch_model.bin"
    if binary.is_file():
        return torch.load(binary, map_location="cpu", weights_only=True)
    return None


def load_ssl_encoder(model_dir: str | Path, *, device: str | torch.device = "cpu") -> SSLEncoder:
    """A HuBERT / wav2vec 2.0 encoder from a local HF model directory, in eval mode."""
    cfg = read_hf_config(model_dir)
    weights = read_hf_weights(model_dir)
    if weights is None:
        raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in the speech model directory {model_dir}")
    enc = SSLEncoder(cfg)
    enc.load_hf_state_dict(weights)
    return enc.to(device).eval()
