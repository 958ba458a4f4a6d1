"""Brand display names and time zones, from a small TOML file shipped as package data.

People know "Lumi Coffee", not ``cafe-lumi``, and read times in their own zone. ``brands.toml`` next to
this module describes the demo's brands; a deployment points ``ENGAGE_BRANDS_FILE`` at its own file.
``ENGAGE_TIMEZONE`` (an IANA zone such as ``Asia/Seoul``) overrides every brand's zone; without it a
brand's own zone applies, and UTC for brands the file does not list.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC_NAME = "UTC"


class BrandsFileError(ValueError):
    """The brands file or a time zone in it (or in ENGAGE_TIMEZONE) is not valid."""


@dataclass(frozen=True)
class Brand:
    brand_id: str
    name: str
    local_name: str | None = None
    timezone: str = UTC_NAME

    @property
    def label(self) -> str:
        """``Lumi Coffee (루미커피)``, or the id for an unlisted brand."""
        return f"{self.name} ({self.local_name})" if self.local_name else self.name


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BrandsFileError(f"unknown time zone {name!r} (use an IANA name such as Asia/Seoul)") from exc


def parse(text: str, source: str = "brands.toml") -> dict[str, Brand]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BrandsFileError(f"{source}: {exc}") from exc
    out: dict[str, Brand] = {}
    for brand_id, fields in raw.items():
        if not isinstance(fields, dict) or not isinstance(fields.get("name"), str):
            raise BrandsFileError(f"{source}: [{brand_id}] needs a name")
        tz = str(fields.get("timezone", UTC_NAME))
        zone(tz)
        local = fields.get("local_name")
        out[brand_id] = Brand(brand_id, fields["name"], str(local) if local else None, tz)
    return out


@functools.cache
def load(path: str | None = None) -> dict[str, Brand]:
    """The brands file at ``path``, or the packaged one."""
    if path:
        return parse(Path(path).read_text(encoding="utf-8"), path)
    text = resources.files("services.common").joinpath("brands.toml").read_text(encoding="utf-8")
    return parse(text)


def brand(brand_id: str, path: str | None = None) -> Brand:
    return load(path).get(brand_id) or Brand(brand_id, brand_id)


def display_zone(brand_id: str, override: str | None = None, path: str | None = None) -> ZoneInfo:
    """The zone to show a brand's times in: ``override`` (ENGAGE_TIMEZONE), else the brand's, else UTC."""
    return zone(override or brand(brand_id, path).timezone)
