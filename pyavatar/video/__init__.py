"""Video input: camera capture (OpenCV, own thread, newest frame wins) and video files (PyAV)."""

from pyavatar.video.capture import CameraCapture, CameraError, CapturedFrame, list_cameras
from pyavatar.video.files import VideoFileDevice, VideoInfo, iter_video, probe_video, write_video

__all__ = [
    "CameraCapture",
    "CameraError",
    "CapturedFrame",
    "VideoFileDevice",
    "VideoInfo",
    "iter_video",
    "list_cameras",
    "probe_video",
    "write_video",
]
