"""Meta webhooks (Facebook Pages, Instagram): the verify-token handshake and signed change deliveries."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from services.ingest.api.deps import ERRORS, Service, Settings
from services.ingest.api.service import ApiError
from services.ingest.api.signed import JSON_OBJECT_BODY, WebhookResult, echo_challenge, json_payload, receive
from services.ingest.webhooks import MappedPayload, map_platform_payload
from services.ingest.webhooks import signatures as sig

PATH = "/webhooks/meta"
router = APIRouter(tags=["webhooks"])


def map_delivery(body: bytes, max_depth: int) -> MappedPayload:
    return map_platform_payload("meta", json_payload(body, max_depth))


@router.get(PATH, response_class=PlainTextResponse, responses=ERRORS)
async def meta_handshake(
    settings: Settings,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    verify_token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    """Subscription handshake: echo ``hub.challenge`` when ``hub.verify_token`` matches."""
    if mode != "subscribe" or challenge is None:
        raise ApiError(400, "expected hub.mode=subscribe and hub.challenge", "bad_request")
    expected = settings.meta_verify_token
    if not verify_token:
        raise ApiError(401, "missing hub.verify_token", "unauthorized")
    if not expected or not sig.constant_time_equal(verify_token, expected):
        raise ApiError(403, "hub.verify_token does not match", "forbidden")
    return echo_challenge(challenge, PATH)


@router.post(PATH, response_model=WebhookResult, openapi_extra=JSON_OBJECT_BODY, responses=ERRORS)
async def meta_webhook(request: Request, service: Service) -> JSONResponse:
    """Page ``feed`` and Instagram ``comments``/``mentions`` changes, signed with X-Hub-Signature-256."""
    settings = service.settings
    mapper = partial(map_delivery, max_depth=settings.ingest_max_json_depth)
    return await receive(
        request, service, "meta", "x-hub-signature-256", sig.verify_meta, settings.meta_app_secret, mapper
    )
