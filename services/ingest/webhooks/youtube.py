"""YouTube WebSub (PubSubHubbub) Atom notifications → ``post`` events by the channel.

Each ``<entry>`` is a published or updated video: event_id ``yt:<videoId>`` (so an update collapses
onto the first notification downstream), brand_id and actor_id the channel id (``is_brand``: the
channel is the brand's own). ``<at:deleted-entry>`` elements are counted as ignored.

Untrusted XML: any DOCTYPE or ENTITY declaration is refused before parsing (XXE and entity-expansion
bombs need one), and ElementTree itself resolves no external resources.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from services.ingest.webhooks.model import MappedPayload, PayloadError, ident, iso_ms

ATOM = "{http://www.w3.org/2005/Atom}"
YT = "{http://www.youtube.com/xml/schemas/2015}"
TOMBSTONE = "{http://purl.org/atompub/tombstones/1.0}deleted-entry"
_DANGEROUS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def parse_atom(body: bytes) -> ET.Element:
    if _DANGEROUS.search(body):
        raise PayloadError("$", "DOCTYPE/ENTITY declarations are not allowed")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise PayloadError("$", f"malformed XML: {exc}") from None


def map_websub(body: bytes) -> MappedPayload:
    root = parse_atom(body)
    if root.tag != f"{ATOM}feed":
        raise PayloadError("feed", f"expected an Atom <feed>, got <{root.tag[:60]}>")
    out = MappedPayload()
    out.ignored += len(root.findall(TOMBSTONE))
    for i, entry in enumerate(root.findall(f"{ATOM}entry")):
        out.events.append(_entry(entry, f"feed.entry[{i}]"))
    return out


def _child(entry: ET.Element, tag: str, path: str, required: bool = True) -> str | None:
    node = entry.find(tag)
    text = (node.text or "").strip() if node is not None else ""
    if not text:
        if required:
            raise PayloadError(path, "missing")
        return None
    return text


def _entry(entry: ET.Element, path: str) -> dict[str, Any]:
    video = ident(_child(entry, f"{YT}videoId", f"{path}.yt:videoId"), f"{path}.yt:videoId")
    channel = ident(_child(entry, f"{YT}channelId", f"{path}.yt:channelId"), f"{path}.yt:channelId")
    published = _child(entry, f"{ATOM}published", f"{path}.published", required=False)
    updated = _child(entry, f"{ATOM}updated", f"{path}.updated", required=False)
    if published is None and updated is None:
        raise PayloadError(f"{path}.published", "missing (and no updated either)")
    attributes: dict[str, str] = {}
    if updated is not None:
        attributes["yt.updated"] = updated[:64]
    return {
        "event_id": f"yt:{video}",
        "platform": "youtube",
        "event_type": "post",
        "brand_id": channel,
        "account_id": channel,
        "post_id": video,
        "actor_id": channel,
        "is_brand": True,
        "text": _child(entry, f"{ATOM}title", f"{path}.title", required=False),
        "occurred_at": iso_ms(published, f"{path}.published")
        if published is not None
        else iso_ms(updated or "", f"{path}.updated"),
        "attributes": attributes,
    }
