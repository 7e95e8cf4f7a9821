"""Security properties of the synthesized template, for *every* function and policy (issue 9, suite item 6).

Rules, stated over the whole template rather than a list of known handlers, so a function added later is held to
them without anyone remembering to:
- each Lambda function runs under its own role;
- no IAM statement grants a wildcard action (``*``, ``svc:*`` or any action containing ``*``) on a data service
  (DynamoDB, S3, Secrets Manager, SQS, EventBridge), nor a data action on ``Resource: "*"``; KMS wildcards are only
  CDK's two encrypt/decrypt prefixes, and only on this stack's own keys;
- no secret value is in the template: secrets are generated or referenced by ARN, every environment variable whose
  name says secret/token/key/password is a reference, and none of the secrets the tests and the local stack use
  appears anywhere in the template.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest

pytestmark = pytest.mark.slow

DATA_SERVICES = ("dynamodb", "s3", "secretsmanager", "sqs", "events")
# CDK's ``key.grant_encrypt_decrypt`` writes these two prefixes; they name only encrypt/decrypt-with-this-key actions
# (ReEncryptFrom/To, GenerateDataKey[Pair][WithoutPlaintext]), and the test below pins them to this stack's keys.
KMS_CDK_PREFIXES = {"kms:ReEncrypt*", "kms:GenerateDataKey*"}
SECRETISH_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|PRIVATE|CREDENTIAL", re.IGNORECASE)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policy_statements(template_json: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, statement) for every identity-policy statement: AWS::IAM::Policy / ManagedPolicy and inline role
    policies (resource policies such as bucket or queue policies are not grants to our code)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for rid, res in template_json["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            out += [(rid, s) for s in props["PolicyDocument"]["Statement"]]
        elif res["Type"] == "AWS::IAM::Role":
            for inline in props.get("Policies", []):
                out += [(rid, s) for s in inline["PolicyDocument"]["Statement"]]
    return out


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def test_every_function_has_its_own_role(cfn):
    roles = Counter()
    for fid, fn in cfn.of_type("AWS::Lambda::Function").items():
        role = fn["Properties"]["Role"]
        assert isinstance(role, dict) and "Fn::GetAtt" in role, f"{fid}: role is not a role of this stack"
        roles[role["Fn::GetAtt"][0]] += 1
    shared = {r: n for r, n in roles.items() if n > 1}
    assert not shared, f"roles shared by several functions: {shared}"
    assert roles, "no functions found"


def test_no_wildcard_action_on_a_data_service(template_json):
    found = []
    for where, statement in _policy_statements(template_json):
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement.get("Action", [])):
            service = action.split(":")[0].lower() if ":" in action else "*"
            if "*" in action and (service == "*" or service in DATA_SERVICES):
                found.append((where, action))
    assert not found, f"wildcard actions on data services: {found}"


def test_kms_wildcards_are_only_cdks_encrypt_decrypt_prefixes_on_our_own_keys(cfn, template_json):
    keys = set(cfn.of_type("AWS::KMS::Key"))
    found = []
    for where, statement in _policy_statements(template_json):
        actions = [
            a for a in _as_list(statement.get("Action", [])) if a.lower().startswith("kms:") and "*" in a
        ]
        if not actions:
            continue
        targets = _as_list(statement.get("Resource", []))
        ours = all(isinstance(t, dict) and t.get("Fn::GetAtt", [None])[0] in keys for t in targets)
        if not set(actions) <= KMS_CDK_PREFIXES or not ours:
            found.append((where, actions, targets))
    assert not found, found


def test_no_data_action_on_every_resource(template_json):
    found = []
    for where, statement in _policy_statements(template_json):
        if statement.get("Effect") != "Allow" or "*" not in _as_list(statement.get("Resource", [])):
            continue
        data = [
            a
            for a in _as_list(statement.get("Action", []))
            if a.split(":")[0].lower() in (*DATA_SERVICES, "kms")
        ]
        if data:
            found.append((where, data))
    assert not found, f"data actions granted on Resource '*': {found}"


def test_no_secret_value_is_written_into_the_template(cfn):
    for sid, secret in cfn.of_type("AWS::SecretsManager::Secret").items():
        assert "SecretString" not in secret["Properties"], f"{sid} carries its value in the template"


def test_environment_variables_that_name_a_secret_are_references(cfn):
    for fid, fn in cfn.of_type("AWS::Lambda::Function").items():
        for name, value in fn["Properties"].get("Environment", {}).get("Variables", {}).items():
            if SECRETISH_NAME.search(name):
                assert isinstance(value, dict), f"{fid} {name} is a literal: {value!r}"
                assert name.endswith("_ARN") or "Ref" in value, f"{fid} {name} is not a reference to a secret"


def test_no_known_secret_appears_anywhere_in_the_template(template_json):
    # the secrets every local run and test uses: if one reached the template, so could a real one
    from enishi_local.stack import LocalSecrets

    local = LocalSecrets()
    known = {v for v in vars(local).values() if isinstance(v, str) and len(v) >= 8}
    text = "\n".join(_strings(template_json))
    assert known and not [k for k in known if k in text]


def test_no_literal_looks_like_a_credential(template_json):
    # AWS access keys, Shopify secrets/tokens, private keys, bearer tokens
    pattern = re.compile(
        r"AKIA[0-9A-Z]{16}|shp(ss|at|ca|pa)_[0-9a-fA-F]{16,}|-----BEGIN [A-Z ]*PRIVATE KEY|Bearer [A-Za-z0-9._-]{20,}"
    )
    hits = [s[:60] for s in _strings(template_json) if pattern.search(s)]
    assert not hits, hits


def test_a_template_with_a_shared_role_or_wildcard_would_fail(cfn, template_json):
    # Given a copy of the template with one function borrowing another's role and a dynamodb:* grant
    import copy

    broken = copy.deepcopy(template_json)
    functions = [k for k, r in broken["Resources"].items() if r["Type"] == "AWS::Lambda::Function"]
    first, second = functions[:2]
    broken["Resources"][second]["Properties"]["Role"] = broken["Resources"][first]["Properties"]["Role"]
    policy = next(k for k, r in broken["Resources"].items() if r["Type"] == "AWS::IAM::Policy")
    broken["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}
    )
    # Then the checks above see both
    with pytest.raises(AssertionError):
        test_every_function_has_its_own_role(type(cfn)(broken))
    with pytest.raises(AssertionError):
        test_no_wildcard_action_on_a_data_service(broken)
    with pytest.raises(AssertionError):
        test_no_data_action_on_every_resource(broken)
    assert json.dumps(broken) != json.dumps(template_json)
