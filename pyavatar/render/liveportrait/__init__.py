"""Own implementation of LivePortrait's inference modules, compatible with the released checkpoints."""
