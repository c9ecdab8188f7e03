"""DSP lip engine and the bundled learned model, side by side on voices the model never heard.

    python samples/lipsync_contact_sheet.py [--out docs/img/lipsync_learned_vs_dsp.png]

Two held-out clips: flite ``kal16`` (a synthesizer family the model never trained on) and the espeak-ng
voice ``es+m6`` (a held-out test voice, benchmarks/LIPSYNC.md). For each clip: the jaw over time (the
reference from the synthesizer's own phone timings, DSP, learned), then the classical renderer's
mouth on matplotlib's Grace Hopper at eight vowel frames spread over the clip, DSP above learned, each
column labelled with the phone being said. Needs flite and espeak-ng (as ``.ci/run`` installs them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from pyavatar.data.engines import espeak, flite
from pyavatar.evaluation.dataset import reference_from_phones
from pyavatar.face.params import FaceParams
from pyavatar.motion.registry import make_motion_source
from pyavatar.packets import AudioChunk
from pyavatar.render.classical import ClassicalRenderer

FPS = 25.0
CLIPS = [
    ("flite kal16 (family never trained on)", lambda: flite("Would you like to go out for a walk, or stay home?")),
    ("espeak-ng es+m6 (held-out voice)", lambda: espeak("Mañana por la mañana vamos a comer todos juntos.", "es+m6")),
]
COLUMNS = 8


def motion(name: str, samples: np.ndarray, rate: int) -> FaceParams:
    """Offline FaceParams of ``samples`` from a registered motion source (neutral idle, fixed seed)."""
    source = make_motion_source(name, fps=FPS, seed=0)
    step = rate // 25
    frames = []
    for i in range(0, len(samples), step):
        frames += source.process(AudioChunk(i * 1_000_000_000 // rate, rate, samples[i : i + step]), False)
    frames += source.flush()
    return FaceParams(np.stack([f.params for f in frames]).astype(np.float32))


def mouth_only(params: FaceParams) -> FaceParams:
    """The mouth of ``params`` on an otherwise still face (idle head motion and blinks left out)."""
    return FaceParams.from_fields(**{k: params[k] for k in ("jaw_open", "mouth_wide", "mouth_round")})


def main() -> None:
    """Write the sheet."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(__file__).resolve().parents[1] / "docs" / "img" / "lipsync_learned_vs_dsp.png"
    p.add_argument("--out", type=Path, default=default, help=f"PNG to write (default: {default})")
    args = p.parse_args()
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:  # a closed mouth at rest
        image = np.array(Image.open(f).convert("RGB"))
    renderer = ClassicalRenderer(output="crop", crop_size=384)
    portrait = renderer.prepare(image)
    fig = plt.figure(figsize=(COLUMNS * 1.3, 2 * 4.3), dpi=110)
    grid = fig.add_gridspec(2 * 4, COLUMNS, height_ratios=[1.3, 0.75, 0.75, 0.35] * 2, hspace=0.3, wspace=0.04)
    for c, (title, make) in enumerate(CLIPS):
        speech = make()
        rate = speech.sample_rate
        ref = reference_from_phones([(ph.name, ph.start, ph.end) for ph in speech.phones], len(speech.samples) / rate)
        tracks = {name: motion(name, speech.samples.astype(np.float32), rate) for name in ("dsp", "learned")}
        n = min(len(ref), *(len(t) for t in tracks.values()))
        t = np.arange(n) / FPS
        ax = fig.add_subplot(grid[4 * c, :])
        ax.fill_between(t, ref.jaw_open[:n], color="0.85", label="reference (phone timings)")
        for name, colour in (("dsp", "tab:blue"), ("learned", "tab:orange")):
            jaw = tracks[name].jaw_open[:n]
            r = np.corrcoef(jaw[ref.speaking[:n] > 0], ref.jaw_open[:n][ref.speaking[:n] > 0])[0, 1]
            ax.plot(t, jaw, color=colour, lw=1.4, label=f"{name} (speech-frame jaw r {r:.2f})")
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_xlim(0, t[-1])
        ax.set_ylim(0, 1.05)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6.5, loc="upper right", ncol=3, frameon=False)
        vowels = [i for i in range(n) if ref.visemes[i] not in ("sil", "cons")]
        picks = [vowels[int(k)] for k in np.linspace(0, len(vowels) - 1, COLUMNS)]
        for row, name in enumerate(("dsp", "learned")):
            frames = renderer.render_params(portrait, mouth_only(tracks[name][picks]))
            for k, (i, frame) in enumerate(zip(picks, frames)):
                tile = fig.add_subplot(grid[4 * c + 1 + row, k])
                tile.imshow(frame[238:306, 138:250])
                tile.set_xticks([])
                tile.set_yticks([])
                if k == 0:
                    tile.set_ylabel(name, fontsize=8)
                if row == 1:
                    tile.set_xlabel(f"{i / FPS:.2f} s · {ref.visemes[i]}", fontsize=6.5)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp.png")
    fig.savefig(tmp, bbox_inches="tight")
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
