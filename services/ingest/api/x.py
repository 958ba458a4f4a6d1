"""X Account Activity webhooks: the CRC challenge and signed deliveries for the configured accounts only."""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.common import metrics
from services.ingest.api.deps import ERRORS, Service, Settings, authorised
from services.ingest.api.service import ApiError
from services.ingest.api.signed import JSON_OBJECT_BODY, WebhookResult, json_payload, receive
from services.ingest.webhooks import MappedPayload, map_platform_payload
from services.ingest.webhooks import signatures as sig

PATH = "/webhooks/x"
# X CRC tokens are base64-like. No JSON value that a webhook would accept (an object) can match, so the
# CRC answer cannot be used to sign a delivery body.
CRC_TOKEN = re.compile(r"[A-Za-z0-9_+/=-]{1,256}")
router = APIRouter(tags=["webhooks"])


def map_delivery(body: bytes, max_depth: int, accounts: frozenset[str]) -> MappedPayload:
    """A delivery naming ``for_user_id`` must name one of the brand's X accounts (403 otherwise)."""
    payload = json_payload(body, max_depth)
    if isinstance(payload, dict):
        user = payload.get("for_user_id")
        known = isinstance(user, str | int) and not isinstance(user, bool)
        if known and str(user) not in accounts:
            raise ApiError(
                403,
                "for_user_id is not one of the configured X accounts (ENGAGE_BRAND_ACCOUNTS)",
                "forbidden",
            )
    return map_platform_payload("x", payload)


@router.get(PATH, responses=ERRORS)
async def x_crc(settings: Settings, crc_token: Annotated[str | None, Query()] = None) -> JSONResponse:
    """CRC challenge: ``{"response_token": "sha256=<base64 HMAC-SHA256(consumer secret, token)>"}``.

    Only tokens of 1-256 base64-like characters are answered."""
    if not crc_token:
        raise ApiError(400, "missing crc_token", "bad_request")
    if not CRC_TOKEN.fullmatch(crc_token):
        raise ApiError(400, "crc_token must be 1-256 characters of A-Z a-z 0-9 _ + / = -", "bad_request")
    answer = authorised(lambda: sig.x_crc_response(crc_token, settings.x_consumer_secret))
    metrics.INGEST_REQUESTS.labels(PATH, "handshake").inc()
    return JSONResponse(answer)


@router.post(PATH, response_model=WebhookResult, openapi_extra=JSON_OBJECT_BODY, responses=ERRORS)
async def x_webhook(request: Request, service: Service) -> JSONResponse:
    """Account Activity deliveries, signed with x-twitter-webhooks-signature."""
    settings = service.settings
    accounts = service.brands.get("x", frozenset())
    mapper = partial(map_delivery, max_depth=settings.ingest_max_json_depth, accounts=accounts)
    return await receive(
        request,
        service,
        "x",
        "x-twitter-webhooks-signature",
        sig.verify_x,
        settings.x_consumer_secret,
        mapper,
    )
