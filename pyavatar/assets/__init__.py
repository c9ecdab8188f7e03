"""Bundled demo assets (used by ``pyavatar demo`` and the samples).

- ``demo_portrait.jpg``: 360x360 crop of scikit-image's ``astronaut`` photo
  (Eileen Collins, NASA; public domain), JPEG quality 90.
- ``demo_speech.ogg``: 9.3 s of English speech synthesized offline with
  espeak-ng 1.51 (voice ``en-us``, 22.05 kHz mono Vorbis): "Hello! I am pyavatar.
  I turn a single portrait into a talking avatar, live from your microphone.
  Watch my lips follow every word."
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent
DEMO_PORTRAIT = ASSETS / "demo_portrait.jpg"
DEMO_SPEECH = ASSETS / "demo_speech.ogg"
