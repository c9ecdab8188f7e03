"""Weight-free classical renderer: a landmark mesh deformed by FaceParams, rasterized to a flow in C++."""

from pyavatar.render.classical.renderer import ClassicalPortrait, ClassicalRenderer

__all__ = ["ClassicalPortrait", "ClassicalRenderer"]
