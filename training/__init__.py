"""Training side: granule writer, scene simulator, the SSegm models and their training."""
