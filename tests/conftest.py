"""Shared test fixtures: fake MODIS L1B 500 m granules, made once per test session.

Each granule fixture returns the Path of a file alone in its own folder (``tests/fake_granules``
makes them; see there for the pattern and geometry). Good granules: Terra/Aqua with the bay at
nadir, mid-swath (30 deg) and the swath edge (50 deg), NASA archive names; ``terra_imapp``,
``aqua_imapp``, ``terra_nrt`` and ``aqua_seadas`` carry the other producers' names;
``terra_partial`` has half the bay beyond the swath edge. ``bad_granules`` is a dict of files the
reader must refuse (keys in ``fake_granules.make_bad_granules``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import fake_granules


def _make(tmp_path_factory, name: str, platform: str, position: str, **options) -> Path:
    return fake_granules.make_granule(tmp_path_factory.mktemp(name), platform, position, **options)


@pytest.fixture(scope="session")
def terra_nadir(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, "terra_nadir", "Terra", "nadir")


@pytest.fixture(scope="session")
def terra_mid(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, "terra_mid", "Terra", "mid")


@pytest.fixture(scope="session")
def terra_edge(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, "terra_edge", "Terra", "edge")


@pytest.fixture(scope="session")
def terra_partial(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, "terra_partial", "Terra", "partial")


@pytest.fixture(scope="session")
def aqua_nadir(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, "aqua_nadir", "Aqua", "nadir")


@pytest.fixture(scope="session")
def aqua_mid(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, "aqua_mid", "Aqua", "mid")


@pytest.fixture(scope="session")
def aqua_edge(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, "aqua_edge", "Aqua", "edge")


@pytest.fixture(scope="session")
def terra_imapp(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, "terra_imapp", "Terra", "mid", name_style="imapp")


@pytest.fixture(scope="session")
def aqua_imapp(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, "aqua_imapp", "Aqua", "nadir", name_style="imapp")


@pytest.fixture(scope="session")
def terra_nrt(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, "terra_nrt", "Terra", "nadir", name_style="nrt")


@pytest.fixture(scope="session")
def aqua_seadas(tmp_path_factory) -> Path:
    return _make(tmp_path_factory, "aqua_seadas", "Aqua", "mid", name_style="seadas")


@pytest.fixture(scope="session")
def bad_granules(tmp_path_factory) -> dict[str, Path]:
    return fake_granules.make_bad_granules(tmp_path_factory.mktemp("bad_granules"))
