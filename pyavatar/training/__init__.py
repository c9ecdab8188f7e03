"""Training of pyavatar's motion models (``pyavatar train-motion``)."""
