"""Look up objects in the ECS ODL metadata strings of a MODIS granule (CoreMetadata.0 etc.).

The ODL text nests GROUP/OBJECT blocks; each object carries a ``VALUE = ...`` line whose value is
a quoted string, a number or a parenthesised list that may continue over several lines. The
objects a reader needs (SHORTNAME, DAYNIGHTFLAG, RANGEBEGINNINGDATE, ...) have unique names, so a
flat lookup by object name is enough and does not depend on the group path.
"""

from __future__ import annotations

import ast
import re

_VALUE = re.compile(r"^\s*VALUE\s*=\s*(.*?)(?=^\s*[A-Z_0-9.]+\s*=|\Z)", re.MULTILINE | re.DOTALL)


def clean(text: str) -> str:
    """Attribute text without the trailing NUL characters HDF4 char attributes may carry."""
    return text.rstrip("\x00")


def _object_block(text: str, name: str) -> str | None:
    """The text between ``OBJECT = name`` and ``END_OBJECT = name``, or None."""
    name = re.escape(name)
    pattern = rf"^\s*OBJECT\s*=\s*{name}\s*$(.*?)^\s*END_OBJECT\s*=\s*{name}\s*$"
    match = re.search(pattern, text, re.MULTILINE | re.DOTALL)
    return match.group(1) if match else None


def _parse_value(raw: str) -> object:
    """A Python value for an ODL value: str, int, float or tuple; unparsable text stays a str."""
    raw = " ".join(raw.split())
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw.strip('"')


def odl_value(text: str, name: str) -> object | None:
    """The VALUE of the ODL object ``name`` in ``text``, or None when it is absent."""
    block = _object_block(text, name)
    if block is None:
        return None
    match = _VALUE.search(block)
    return _parse_value(match.group(1)) if match else None
