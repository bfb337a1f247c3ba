"""Scene simulator of Peter the Great Bay: synthetic MODIS L1B 500 m scenes with exact truth.

numpy/scipy only. The pipeline, one module per step:

- ``raster``: the fine raster (4 x the grid) with the GSHHS coastline and static fields;
- ``noise``: correlated random fields (texture of ice, clouds, land);
- ``regimes``: what a scene shows (ice and cloud regime, platform, date, overpass time);
- ``scene``: the surface (fast ice, drift ice, nilas, leads; land with or without snow);
- ``spectra``: per-class TOA reflectance from docs table 11.1, texture, sub-pixel mixing;
- ``clouds``: water clouds, ice clouds, cirrus, shadows, and the TOA compositing;
- ``render``: the scene's TOA reflectance; footprint, noise and detector stripes of the sensor;
- ``granule``: the scene as a MOD02HKM/MYD02HKM granule, read back by the runtime's reader;
- ``truth``: label, obscured mask and class map on the grid;
- ``dataset``: a dataset folder in the contract format (``train-ssegm synth``);
- ``statistics``: per-class reflectance statistics (``train-ssegm stats``).
"""
