"""The batch's one progress bar: audio seconds done (so the rate is audio-s per wall-s and the ETA follows it)."""

from __future__ import annotations

from typing import Any


class BatchProgress:
    """``jobs`` to run totalling ``audio_seconds``; a failed job leaves the total, so the rate is rendered audio."""

    def __init__(self, jobs: int, audio_seconds: float, *, enabled: bool = True) -> None:
        from tqdm import tqdm

        self.jobs, self.done, self.failed = jobs, 0, 0
        self._bar = tqdm(
            total=audio_seconds,
            unit="audio-s",
            disable=not enabled,
            dynamic_ncols=True,
            bar_format="{desc} {percentage:3.0f}%|{bar}| {rate_noinv_fmt} [{elapsed}<{remaining}]",
        )
        self._show()

    def _show(self) -> None:
        self._bar.set_description_str(f"batch: {self.done}/{self.jobs} jobs done, {self.failed} failed", refresh=True)

    def finished(self, audio_seconds: float, ok: bool) -> None:
        """One job ended (done or failed for good)."""
        self.done += ok
        self.failed += not ok
        if ok:
            self._bar.update(audio_seconds)
        else:
            self._bar.total = max(0.0, self._bar.total - audio_seconds)
        self._show()

    def write(self, message: str) -> None:
        """Print a line above the bar."""
        self._bar.write(message)

    def close(self) -> Any:
        """Leave the bar on screen as it ends."""
        self._bar.close()
