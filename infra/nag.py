"""cdk-nag 3 wiring. cdk-nag 3 is a validation plugin, not an Aspect (REFERENCE.md §8); findings fail synth.

Acknowledge a finding on the construct it is about, with the reason it is acceptable:
``acknowledge(bucket, "AwsSolutions-S1", "why")``. Granular rules (IAM4/IAM5) need the finding id,
e.g. ``"AwsSolutions-IAM5[Resource::*]"``.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from constructs import IConstruct


def add_nag(app: App) -> None:
    from cdk_nag import AwsSolutionsChecks

    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    if len(reason) < 20:
        raise ValueError(f"acknowledging {rule_id} needs a real reason, not {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))
