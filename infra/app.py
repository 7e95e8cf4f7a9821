"""The CDK app. ``python -m infra.app`` (cdk.json's app) synthesizes; ``build_app`` is for tests and the local stack.

Never calls AWS or git: the environment comes from context (``enishi:region``, default ap-northeast-1; the account
stays unresolved unless ``enishi:account`` is given), so synth works offline with no credentials.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk

from infra.config import StageConfig
from infra.nag import add_nag
from infra.stack import EnishiStack

STACK_NAME = "Enishi"
TEMPLATE_FILE = f"{STACK_NAME}.template.json"


def build_app(outdir: str | None = None, context: dict[str, Any] | None = None) -> cdk.App:
    """The app with the stack and cdk-nag (a validation plugin: findings make ``app.synth()`` raise)."""
    app = cdk.App(outdir=outdir, context=context or None)
    config = StageConfig.from_context(app.node.try_get_context)
    EnishiStack(
        app,
        STACK_NAME,
        config=config,
        env=cdk.Environment(account=config.account, region=config.region),
        tags={"app": "enishi", "stage": config.stage},
    )
    add_nag(app)
    return app


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
