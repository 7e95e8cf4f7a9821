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


def logical_id(construct: IConstruct) -> str:
    from aws_cdk import CfnElement, Stack

    element = construct.node.default_child if not isinstance(construct, CfnElement) else construct
    return Stack.of(construct).resolve(Stack.of(construct).get_logical_id(element))  # type: ignore[arg-type]


def arn_part(value: str, pseudo: str) -> str:
    """How cdk-nag prints a region/account inside an ARN: the literal, or ``<AWS::Region>`` when unresolved."""
    from aws_cdk import Token

    return f"<{pseudo}>" if Token.is_unresolved(value) else value


def acknowledge_table_access(grantee: IConstruct, table: IConstruct, *, write: bool) -> None:
    """The findings CDK's ``table.grant_read_data`` / ``grant_read_write_data`` produce on a customer-key table:
    the table's index ARNs (``/index/*``) and, for writes, the KMS data-key actions (``GenerateDataKey*``,
    ``ReEncrypt*``), both on this one table and this one key."""
    acknowledge(
        grantee,
        f"AwsSolutions-IAM5[Resource::<{logical_id(table)}.Arn>/index/*]",
        "The indexes of enishi's own table (today only orders_by_day); CDK's table grant names them by wildcard.",
    )
    if write:
        for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
            acknowledge(
                grantee,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's grant for writing a table encrypted with the data key; limited to that single key resource.",
            )
