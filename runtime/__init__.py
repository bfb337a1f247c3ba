"""Station runtime: MODIS L1B 500 m granule -> ice map of Peter the Great Bay. No PyTorch."""

__version__ = "0.1.0"
