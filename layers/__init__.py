"""Lambda layers built without Docker (``python -m layers.build``)."""
