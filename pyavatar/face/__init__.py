"""Face-parameter space and face geometry shared by motion, renderers and outputs."""
