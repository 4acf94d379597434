"""The worker's HTTP face: a thin Starlette app over the store, the Bolt app and the service.

Routes: POST /label-studio/webhook, POST /slack/events, GET /healthz (503 while the store is
down or bad Slack credentials have stopped delivery). The webhook answer waits
only for validation and the durable commit of its event (group commit, ingest.py); Slack work
happens in the service's threads, because every reviewer's submit in Label Studio waits on
this answer (1 s timeout, no retry).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from contextlib import asynccontextmanager

from slack_bolt import BoltRequest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workers.ingest import GroupCommitter
from workers.interactivity import check_interaction, check_slack_request
from workers.pacing import NO_NUDGES, PacingRules
from workers.store import LIVE, Store
from workers.webhook import (
    MAX_BODY_BYTES,
    AnnotationsDeleted,
    AnnotationSeen,
    RequestRefused,
    parse_webhook,
)

log = logging.getLogger(__name__)

SECRET_HEADER = "x-webhook-secret"


def check_webhook(secret: str, headers: Mapping[str, str], body: bytes) -> AnnotationSeen | AnnotationsDeleted:
    """Check the shared secret (in constant time) and validate one Label Studio webhook body.

    `headers` must answer lower-case names (Starlette's Headers do). RequestRefused on a bad request.
    """
    given = headers.get(SECRET_HEADER)
    if given is None or not hmac.compare_digest(given.encode(), secret.encode()):
        raise RequestRefused(401, "missing or wrong X-Webhook-Secret header")
    return parse_webhook(body)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refusing (413) anything over `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestRefused(413, f"body of {declared} bytes is over the {limit} byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRefused(413, f"body is over the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _refusal(error: RequestRefused) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=error.status)


def build_app(
    store: Store,
    *,
    webhook_secret: str,
    checkin_every: int,
    slack_app=None,
    slack_signing_secret: str | None = None,
    service=None,
    scheduling: str = LIVE,
    rules: PacingRules = NO_NUDGES,
) -> Starlette:
    """The ASGI app. `slack_app` (Bolt) is None in Socket Mode or without Slack; `service` runs the
    background threads; `scheduling` is how webhooks' milestones become check-ins and `rules` which
    nudges they trigger (store.record_events)."""

    committer = GroupCommitter(store, checkin_every, scheduling=scheduling, rules=rules)

    async def label_studio_webhook(request: Request) -> Response:
        try:
            body = await read_body(request)
            event = check_webhook(webhook_secret, request.headers, body)
            recorded = await committer.record(event)
        except RequestRefused as error:
            log.info("webhook refused (%s): %s", error.status, error)
            return _refusal(error)
        except Exception as error:  # the store is down: Label Studio will not retry, catch-up will
            log.error("webhook not stored (%s); catch-up will pick it up", error.__class__.__name__)
            return JSONResponse({"error": "store unavailable; the event will be caught up later"}, status_code=503)
        if (recorded.milestones or recorded.nudges) and service is not None:
            service.wake()
        return JSONResponse({"stored": recorded.new_event, "checkins_due": list(recorded.milestones)})

    async def slack_events(request: Request) -> Response:
        if slack_app is None:
            return JSONResponse({"error": "this worker takes no Slack requests here (Socket Mode, or no Slack settings)"}, status_code=404)
        try:
            body = await read_body(request)
            check_slack_request(slack_signing_secret or "", request.headers, body)
            check_interaction(body, request.headers.get("content-type", ""))
        except RequestRefused as error:
            log.info("Slack request refused (%s): %s", error.status, error)
            return _refusal(error)
        bolt_request = BoltRequest(body=body.decode("utf-8"), query=request.url.query, headers=dict(request.headers))
        # Bolt waits for the listener's ack() in this call; keep it off the event loop.
        bolt_response = await run_in_threadpool(slack_app.dispatch, bolt_request)
        return Response(
            status_code=bolt_response.status,
            content=bolt_response.body,
            headers=bolt_response.first_headers_without_set_cookie(),
        )

    async def healthz(request: Request) -> Response:
        try:
            await run_in_threadpool(store.ping)
            stopped = await run_in_threadpool(store.delivery_stopped)
        except Exception as error:
            return JSONResponse({"ok": False, "store": error.__class__.__name__}, status_code=503)
        if stopped:  # Slack refused the credentials: nothing is delivered until they work (slack_delivery.py)
            return JSONResponse({"ok": False, "slack": stopped}, status_code=503)
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def lifespan(app):
        if service is not None:
            service.start()
        try:
            yield
        finally:
            await run_in_threadpool(committer.stop)
            if service is not None:
                await run_in_threadpool(service.stop)

    return Starlette(
        routes=[
            Route("/label-studio/webhook", label_studio_webhook, methods=["POST"]),
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
