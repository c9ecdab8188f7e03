"""What the learned motion generators share: the speech SSL encoder and the keypoint motion layout.

:mod:`~pyavatar.motion.common.ssl` (HuBERT / wav2vec 2.0 in plain PyTorch) is
the audio front end of JoyVASA and of the diffusion model;
:mod:`~pyavatar.motion.common.keypoints` holds JoyVASA's 70-value motion layout
and its composition into LivePortrait driving keypoints, which the diffusion
model's keypoint space and the SDK reuse. Neither imports a generator.
"""
