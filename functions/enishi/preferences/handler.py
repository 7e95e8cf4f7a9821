"""Preferences λ: ``GET /u/{token}`` (the page) and ``POST /u/{token}`` (RFC 8058 one-click / the page's form).

HTTP API payload v2, parsed by hand (two routes do not justify the event-handler's ~110 ms import). Domain errors
become pages in one place (``ERROR_PAGES``). A failed publish answers 503 so a mailbox provider retries the POST.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from enishi import bootstrap, http_api, secrets
from enishi.preferences import pages
from enishi.preferences.logic import Page, Preferences, TokenInvalid
from enishi.preferences.store import DynamoConsentReader
from enishi.publish import EventBridgePublisher, PublishFailed
from enishi.shop_config import ShopConfig, load_shop_config, templates_override_dir

logger = Logger()
metrics = Metrics()

ERROR_PAGES: dict[type[Exception], tuple[str, int]] = {
    TokenInvalid: ("not_found.html", 404),
    PublishFailed: ("error.html", 503),
}


class Settings(
    bootstrap.TableSettings,
    bootstrap.BusSettings,
    bootstrap.UnsubscribeSecretSettings,
    bootstrap.ShopConfigSettings,
):
    pass


@dataclass
class Deps:
    settings: Settings
    shop: ShopConfig
    publisher: EventBridgePublisher
    consents: DynamoConsentReader
    override_dir: str

    def service(self) -> Preferences:
        # read per request (cached 5 min by Powertools) so a rotated secret is picked up without a cold start
        keys_ = [
            s.encode("utf-8")
            for s in secrets.rotation_secrets(self.settings.unsubscribe_secret_arn, retired=True)
        ]
        return Preferences(secrets=keys_, shop=self.shop, publisher=self.publisher, consents=self.consents)


@bootstrap.container
def deps() -> Deps:
    settings = bootstrap.settings(Settings)
    return Deps(
        settings=settings,
        shop=load_shop_config(settings.shop_config_dir),
        publisher=EventBridgePublisher(boto3.client("events"), settings.event_bus_name),
        consents=DynamoConsentReader(boto3.client("dynamodb"), settings.table_name),
        override_dir=str(templates_override_dir(settings.shop_config_dir) / "web"),
    )


def _respond(d: Deps, page: Page) -> dict[str, Any]:
    context = {"shop": d.shop, **page.context}
    return {
        "statusCode": page.status,
        "headers": dict(pages.SECURITY_HEADERS),
        "body": pages.render(page.template, context, d.override_dir),
    }


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    d = deps()
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "GET").upper()
    token = (event.get("pathParameters") or {}).get("token")
    try:
        service = d.service()
        if method == "POST":
            page = service.post(token, http_api.raw_body(event), http_api.headers(event))
            metrics.add_metric(
                name="PreferencesPost_" + page.template.removesuffix(".html"), unit=MetricUnit.Count, value=1
            )
        elif method in ("GET", "HEAD"):
            page = service.view(token)
            metrics.add_metric(name="PreferencesView", unit=MetricUnit.Count, value=1)
        else:
            page = Page("not_found.html", status=405)
            metrics.add_metric(name="Preferences405", unit=MetricUnit.Count, value=1)
    except tuple(ERROR_PAGES) as exc:
        template, status = next(v for t, v in ERROR_PAGES.items() if isinstance(exc, t))
        metrics.add_metric(name=f"Preferences{status}", unit=MetricUnit.Count, value=1)
        logger.info("preferences request refused", extra={"status": status, "method": method})
        page = Page(template, status=status)
    response = _respond(d, page)
    if method == "HEAD":
        response["body"] = ""
    return response
