"""YouTube WebSub: intent verification and signed Atom notifications, for the configured channels only."""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from services.ingest.api.deps import ERRORS, Service, quoted
from services.ingest.api.service import ApiError
from services.ingest.api.signed import WebhookResult, echo_challenge, receive
from services.ingest.webhooks import MappedPayload
from services.ingest.webhooks import signatures as sig
from services.ingest.webhooks.youtube import map_websub

log = logging.getLogger(__name__)

PATH = "/webhooks/youtube"
YOUTUBE_FEED_HOSTS = frozenset({"www.youtube.com", "youtube.com"})
YOUTUBE_FEED_PATH = "/xml/feeds/videos.xml"
_ATOM_BODY = {
    "requestBody": {"required": True, "content": {"application/atom+xml": {"schema": {"type": "string"}}}}
}
router = APIRouter(tags=["webhooks"])


def youtube_topic_channel(topic: str) -> str | None:
    """The channel id of a YouTube feed topic (``https://www.youtube.com/xml/feeds/videos.xml?channel_id=UC…``)."""
    url = urlsplit(topic)
    if url.scheme not in ("https", "http") or url.hostname not in YOUTUBE_FEED_HOSTS:
        return None
    if url.path != YOUTUBE_FEED_PATH:
        return None
    channels = parse_qs(url.query).get("channel_id", [])
    return channels[0] if len(channels) == 1 else None


def map_delivery(body: bytes, channels: frozenset[str]) -> MappedPayload:
    """Notifications for configured channels only; others are counted as ignored."""
    mapped = map_websub(body)
    kept = [e for e in mapped.events if e.get("brand_id") in channels]
    mapped.ignored += len(mapped.events) - len(kept)
    mapped.events = kept
    return mapped


@router.get(
    PATH,
    response_class=PlainTextResponse,
    responses={**ERRORS, 404: {"description": "hub.topic is not a configured channel's feed"}},
)
async def youtube_verify(
    service: Service,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    topic: Annotated[str | None, Query(alias="hub.topic")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
    lease_seconds: Annotated[str | None, Query(alias="hub.lease_seconds")] = None,
) -> PlainTextResponse:
    """Intent verification: echo ``hub.challenge`` for subscribe/unsubscribe of a configured channel's
    feed (404 for any other topic, as WebSub says); refused while ENGAGE_YOUTUBE_SECRET is unset."""
    if mode not in ("subscribe", "unsubscribe") or not topic or challenge is None:
        raise ApiError(
            400, "expected hub.mode=subscribe|unsubscribe, hub.topic and hub.challenge", "bad_request"
        )
    if not service.settings.youtube_secret:
        raise ApiError(403, "ENGAGE_YOUTUBE_SECRET is not configured on this server", "forbidden")
    channel = youtube_topic_channel(topic)
    if channel is None or channel not in service.brands.get("youtube", frozenset()):
        log.info("WebSub %s refused for topic %s", quoted(mode), quoted(topic))
        raise ApiError(404, "hub.topic is not the feed of a configured YouTube channel", "not_found")
    log.info("WebSub %s %s (lease %s s)", quoted(mode), quoted(topic), quoted(lease_seconds))
    return echo_challenge(challenge, PATH)


@router.post(PATH, response_model=WebhookResult, openapi_extra=_ATOM_BODY, responses=ERRORS)
async def youtube_webhook(request: Request, service: Service) -> JSONResponse:
    """Atom notifications signed with X-Hub-Signature (sha1 or sha256); refused without a hub secret."""
    mapper = partial(map_delivery, channels=service.brands.get("youtube", frozenset()))
    secret = service.settings.youtube_secret
    return await receive(request, service, "youtube", "x-hub-signature", sig.verify_websub, secret, mapper)
