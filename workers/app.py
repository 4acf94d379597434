"""The worker's HTTP face: a thin Starlette app over the store, the Bolt app and the service.

Routes: POST /label-studio/webhook, POST /slack/events, GET /healthz (503 while the store is
down, bad Slack credentials have stopped delivery, the background is not running or received
events wait too long). The webhook answer waits only for validation and the durable commit of
its event to the inbox (group commit, ingest.py); applying it and all Slack work happen in the
service (applier.py, background.py), because every reviewer's submit in Label Studio waits on
this answer (1 s timeout, no retry).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Mapping
from contextlib import asynccontextmanager

from slack_bolt import BoltRequest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workers.ingest import GroupCommitter
from workers.interactivity import check_interaction, check_slack_request
from workers.store import Store
from workers.webhook import (
    MAX_BODY_BYTES,
    AnnotationsDeleted,
    AnnotationSeen,
    RequestRefused,
    parse_webhook,
)

log = logging.getLogger(__name__)

SECRET_HEADER = "x-webhook-secret"
# /healthz fails once the oldest event waiting in the inbox is this old: nothing is applying it.
INBOX_STALE_SECONDS = 60.0
# A request whose body has not all arrived this long after its headers is answered 408 and its
# connection closed: a client that sends headers and then nothing must not hold a connection for
# ever. (Label Studio sends a webhook's body with its headers, and gives up after 1 s itself.)
BODY_SECONDS = 10.0


def check_webhook(secret: str, headers: Mapping[str, str], body: bytes) -> AnnotationSeen | AnnotationsDeleted:
    """Check the shared secret (in constant time) and validate one Label Studio webhook body.

    `headers` must answer lower-case names (Starlette's Headers do). RequestRefused on a bad request.
    """
    given = headers.get(SECRET_HEADER)
    if given is None or not hmac.compare_digest(given.encode(), secret.encode()):
        raise RequestRefused(401, "missing or wrong X-Webhook-Secret header")
    return parse_webhook(body)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refusing (413) anything over `limit` bytes without reading it all, and
    (408) a body that has not arrived within BODY_SECONDS."""
    try:
        return await asyncio.wait_for(_read_body(request, limit), BODY_SECONDS)
    except asyncio.TimeoutError:
        raise RequestRefused(408, f"the body did not arrive within {BODY_SECONDS:.0f} s") from None


async def _read_body(request: Request, limit: int) -> bytes:
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
    # After a 408 the rest of a body could still arrive: close the connection instead of reading it.
    headers = {"Connection": "close"} if error.status == 408 else None
    return JSONResponse({"error": str(error)}, status_code=error.status, headers=headers)


def build_app(
    store: Store,
    *,
    webhook_secret: str,
    slack_app=None,
    slack_signing_secret: str | None = None,
    service=None,
) -> Starlette:
    """The ASGI app. `slack_app` (Bolt) is None in Socket Mode or without Slack; `service` (a
    WorkerService, or the BackgroundProcess running one) starts and stops with the server and
    applies what the webhook receives."""

    committer = GroupCommitter(store)

    async def label_studio_webhook(request: Request) -> Response:
        try:
            body = await read_body(request)
            event = check_webhook(webhook_secret, request.headers, body)
            await committer.record(event)
        except RequestRefused as error:
            log.info("webhook refused (%s): %s", error.status, error)
            return _refusal(error)
        except ClientDisconnect:  # nothing was stored, and nobody is waiting for the answer
            log.info("webhook's client went away before its body arrived; nothing stored")
            return Response(status_code=400)
        except Exception as error:  # the store is down: Label Studio will not retry, catch-up will
            log.error("webhook not stored (%s); catch-up will pick it up", error.__class__.__name__)
            return JSONResponse({"error": "store unavailable; the event will be caught up later"}, status_code=503)
        return JSONResponse({"stored": True})

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
        except ClientDisconnect:
            log.info("Slack request's client went away before its body arrived")
            return Response(status_code=400)
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
            stopped = await run_in_threadpool(store.outbox.delivery_stopped)
            waiting = await run_in_threadpool(store.inbox.waiting)
        except Exception as error:
            return JSONResponse({"ok": False, "store": error.__class__.__name__}, status_code=503)
        if stopped:  # Slack refused the credentials: nothing is delivered until they work (slack_delivery.py)
            return JSONResponse({"ok": False, "slack": stopped}, status_code=503)
        if service is not None and not service.alive():
            return JSONResponse({"ok": False, "background": "not running"}, status_code=503)
        age = 0.0 if waiting.oldest_received_at is None else time.time() - waiting.oldest_received_at
        if age > INBOX_STALE_SECONDS:
            return JSONResponse({"ok": False, "inbox": f"{waiting.waiting} event(s) waiting, the oldest for {age:.0f} s"},
                                status_code=503)
        return JSONResponse({"ok": True, "inbox": waiting.waiting})

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
