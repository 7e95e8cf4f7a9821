"""Read a synthesized CloudFormation template and resolve just enough of it to build the stack in moto.

``Template.load(path)`` parses ``Enishi.template.json``; ``resolve(value)`` evaluates the intrinsics CDK emits
(``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub``, ``Fn::Select``, ``Fn::Split``, ``Fn::If`` on known
conditions, pseudo parameters) with a local account and region. Resources without an explicit physical name get a
deterministic one (``<stack>-<LogicalId>``). When moto assigns a value we cannot predict (a secret's ARN suffix,
a queue URL), the stack records it with ``override`` before it resolves anything that refers to it.

The typed accessors (``functions()``, ``state_machines()``, ``rules()``, ``queues()``, ...) return small
dataclasses with everything resolved: the only view of the template the rest of the local stack uses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "ap-northeast-1"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"


class TemplateError(ValueError):
    """The template uses something the local stack cannot resolve."""


# CloudFormation property holding the physical name, per resource type
_NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::DynamoDB::GlobalTable": "TableName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Events::Archive": "ArchiveName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::Role": "RoleName",
    "AWS::SES::ConfigurationSet": "Name",
    "AWS::SES::EmailIdentity": "EmailIdentity",
    "AWS::ApiGatewayV2::Api": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::KMS::Key": None,
}

# types whose Ref is the ARN rather than the name
_REF_IS_ARN = {
    "AWS::StepFunctions::StateMachine",
    "AWS::SecretsManager::Secret",
    "AWS::Lambda::LayerVersion",
    "AWS::SNS::Topic",
}


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    runtime: str
    environment: dict[str, str]
    timeout: int
    memory: int


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str
    arn: str
    definition: dict[str, Any]
    type: str  # STANDARD | EXPRESS


@dataclass(frozen=True)
class TargetSpec:
    id: str
    arn: str
    input: str | None = None
    input_path: str | None = None
    input_transformer: dict[str, Any] | None = None
    dead_letter_arn: str | None = None

    @property
    def service(self) -> str:
        """``lambda``, ``states``, ``sqs``, ``events``, ``logs`` … from the ARN."""
        return self.arn.split(":")[2] if self.arn.startswith("arn:") else ""


@dataclass(frozen=True)
class RuleSpec:
    logical_id: str
    name: str
    bus_name: str | None  # None: an EventBridge Scheduler schedule
    pattern: dict[str, Any] | None
    schedule: str | None  # "cron(0 1 * * ? *)" / "rate(1 day)"
    schedule_timezone: str | None
    targets: list[TargetSpec]
    enabled: bool = True


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    arn: str
    url: str
    fifo: bool
    visibility_timeout: int
    dead_letter_arn: str | None
    max_receive_count: int | None


@dataclass(frozen=True)
class EventSourceMappingSpec:
    logical_id: str
    queue_arn: str
    function_name: str
    batch_size: int
    report_batch_item_failures: bool
    enabled: bool


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    global_secondary_indexes: list[dict[str, Any]]
    ttl_attribute: str | None
    point_in_time_recovery: bool = False  # continuous backups: what ExportTableToPointInTime reads


@dataclass(frozen=True)
class SecretSpec:
    logical_id: str
    name: str
    secret_string: str | None
    generate: dict[str, Any] | None


@dataclass(frozen=True)
class RouteSpec:
    route_key: str  # "POST /webhooks/shopify"
    method: str
    path: str  # "/u/{token}"
    function_name: str

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when ``method path`` matches this route, else None."""
        if self.method not in ("ANY", method.upper()):
            return None
        names: list[str] = []

        def group(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.endswith("+"):
                names.append(name[:-1])
                return "(.+)"
            names.append(name)
            return "([^/]+)"

        pattern = re.sub(r"\\\{([^}]+)\\\}", group, re.escape(self.path))
        found = re.fullmatch(pattern, path)
        if not found:
            return None
        return dict(zip(names, found.groups(), strict=True))


@dataclass
class _Override:
    ref: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)


class Template:
    def __init__(
        self,
        body: dict[str, Any],
        *,
        stack_name: str = "Enishi",
        account: str = ACCOUNT_ID,
        region: str = REGION,
    ) -> None:
        self.body = body
        self.stack_name = stack_name
        self.account = account
        self.region = region
        self.resources: dict[str, dict[str, Any]] = body.get("Resources", {})
        self._overrides: dict[str, _Override] = {}

    @classmethod
    def load(cls, path: Path | str, **kwargs: Any) -> Template:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")), **kwargs)

    # ---- resources
    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.resources.items() if r.get("Type") == resource_type}

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties", {})

    def type_of(self, logical_id: str) -> str:
        try:
            return self.resources[logical_id]["Type"]
        except KeyError:
            raise TemplateError(f"no resource {logical_id!r} in the template") from None

    def override(self, logical_id: str, *, ref: str | None = None, **attrs: str) -> None:
        """Record a value moto assigned (used by every later ``Ref``/``GetAtt`` of ``logical_id``)."""
        entry = self._overrides.setdefault(logical_id, _Override())
        if ref is not None:
            entry.ref = ref
        entry.attrs.update(attrs)

    # ---- names and attributes
    def physical_name(self, logical_id: str) -> str:
        rtype = self.type_of(logical_id)
        prop = _NAME_PROPERTY.get(rtype)
        if prop and prop in self.props(logical_id):
            return str(self.resolve(self.props(logical_id)[prop]))
        name = f"{self.stack_name}-{logical_id}"
        if rtype == "AWS::S3::Bucket":
            return name.lower()[:63]
        if rtype == "AWS::SQS::Queue" and self.props(logical_id).get("FifoQueue"):
            return name[:75] + ".fifo"
        return name[:64]

    def arn(self, logical_id: str) -> str:
        override = self._overrides.get(logical_id)
        if override and "Arn" in override.attrs:
            return override.attrs["Arn"]
        rtype = self.type_of(logical_id)
        name = self.physical_name(logical_id)
        r, a = self.region, self.account
        match rtype:
            case "AWS::DynamoDB::Table" | "AWS::DynamoDB::GlobalTable":
                return f"arn:aws:dynamodb:{r}:{a}:table/{name}"
            case "AWS::Events::EventBus":
                return f"arn:aws:events:{r}:{a}:event-bus/{name}"
            case "AWS::Events::Rule":
                bus = self._rule_bus(logical_id)
                return (
                    f"arn:aws:events:{r}:{a}:rule/{name}"
                    if bus in (None, "default")
                    else f"arn:aws:events:{r}:{a}:rule/{bus}/{name}"
                )
            case "AWS::SQS::Queue":
                return f"arn:aws:sqs:{r}:{a}:{name}"
            case "AWS::Lambda::Function":
                return f"arn:aws:lambda:{r}:{a}:function:{name}"
            case "AWS::Lambda::LayerVersion":
                return f"arn:aws:lambda:{r}:{a}:layer:{name}:1"
            case "AWS::StepFunctions::StateMachine":
                return f"arn:aws:states:{r}:{a}:stateMachine:{name}"
            case "AWS::SecretsManager::Secret":
                return f"arn:aws:secretsmanager:{r}:{a}:secret:{name}"
            case "AWS::S3::Bucket":
                return f"arn:aws:s3:::{name}"
            case "AWS::IAM::Role":
                return f"arn:aws:iam::{a}:role/{name}"
            case "AWS::Logs::LogGroup":
                return f"arn:aws:logs:{r}:{a}:log-group:{name}:*"
            case "AWS::SNS::Topic":
                return f"arn:aws:sns:{r}:{a}:{name}"
            case "AWS::Scheduler::Schedule":
                return f"arn:aws:scheduler:{r}:{a}:schedule/default/{name}"
            case "AWS::KMS::Key":
                return f"arn:aws:kms:{r}:{a}:key/{logical_id}"
            case "AWS::SES::ConfigurationSet":
                return f"arn:aws:ses:{r}:{a}:configuration-set/{name}"
            case "AWS::SES::EmailIdentity":
                return f"arn:aws:ses:{r}:{a}:identity/{name}"
            case "AWS::Events::Archive":
                return f"arn:aws:events:{r}:{a}:archive/{name}"
        return f"arn:aws:cloudformation:{r}:{a}:resource/{logical_id}"

    def ref(self, logical_id: str) -> str:
        if logical_id.startswith("AWS::"):
            return self._pseudo(logical_id)
        if logical_id in self.body.get("Parameters", {}):
            return str(self.body["Parameters"][logical_id].get("Default", ""))
        override = self._overrides.get(logical_id)
        if override and override.ref is not None:
            return override.ref
        rtype = self.type_of(logical_id)
        if rtype in _REF_IS_ARN:
            return self.arn(logical_id)
        if rtype == "AWS::SQS::Queue":
            return self.get_att(logical_id, "QueueUrl")
        if rtype in _NAME_PROPERTY and rtype not in ("AWS::ApiGatewayV2::Api", "AWS::KMS::Key"):
            return self.physical_name(logical_id)
        return logical_id  # API ids, integration ids, KMS key ids …: the logical id is a fine local id

    def get_att(self, logical_id: str, attribute: str) -> str:
        override = self._overrides.get(logical_id)
        if override and attribute in override.attrs:
            return override.attrs[attribute]
        rtype = self.type_of(logical_id)
        if attribute == "Arn":
            return self.arn(logical_id)
        if rtype == "AWS::SQS::Queue":
            name = self.physical_name(logical_id)
            if attribute == "QueueUrl":
                return f"https://sqs.{self.region}.{URL_SUFFIX}/{self.account}/{name}"
            if attribute == "QueueName":
                return name
        if attribute in ("Name", "TableName", "BucketName", "FunctionName", "StateMachineName"):
            return self.physical_name(logical_id)
        if rtype == "AWS::ApiGatewayV2::Api" and attribute == "ApiEndpoint":
            return f"https://{logical_id.lower()}.execute-api.{self.region}.{URL_SUFFIX}"
        if attribute == "StreamArn":
            return self.arn(logical_id) + "/stream/local"
        if attribute == "RoleId":
            return f"AROA{logical_id.upper()}"[:21]
        if attribute in ("Id", "ApiId"):
            return self.ref(logical_id)
        if attribute == "RegionalDomainName":
            return f"{self.physical_name(logical_id)}.s3.{self.region}.{URL_SUFFIX}"
        raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} ({rtype}) is not supported locally")

    def _pseudo(self, name: str) -> str:
        values = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/local",
        }
        if name not in values:
            raise TemplateError(f"pseudo parameter {name} is not supported locally")
        return values[name]

    # ---- intrinsics
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::GetAtt":
                lid, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(lid, attr)
            if key == "Fn::Join":
                sep, parts = arg
                return str(sep).join(str(p) for p in self.resolve(parts))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self._condition(cond) else no)
            if key == "Fn::Base64":
                import base64

                return base64.b64encode(str(self.resolve(arg)).encode()).decode()
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported locally")
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        resolved_vars = {k: self.resolve(v) for k, v in variables.items()}

        def replace(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in resolved_vars:
                return str(resolved_vars[name])
            if "." in name:
                lid, attr = name.split(".", 1)
                return self.get_att(lid, attr)
            return self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _condition(self, name: str) -> bool:
        cond = self.body.get("Conditions", {}).get(name)
        if cond is None:
            raise TemplateError(f"unknown condition {name}")
        return self._eval_condition(cond)

    def _eval_condition(self, cond: Any) -> bool:
        ((key, arg),) = cond.items()
        if key == "Fn::Equals":
            a, b = (self.resolve(x) if not (isinstance(x, dict) and "Condition" in x) else x for x in arg)
            return a == b
        if key == "Fn::Not":
            return not self._eval_condition(arg[0])
        if key == "Fn::And":
            return all(self._eval_condition(c) for c in arg)
        if key == "Fn::Or":
            return any(self._eval_condition(c) for c in arg)
        if key == "Condition":
            return self._condition(arg)
        raise TemplateError(f"condition {key} is not supported locally")

    # ---- typed views
    def functions(self) -> dict[str, FunctionSpec]:
        """Every Lambda function, by logical id."""
        out: dict[str, FunctionSpec] = {}
        for lid, res in self.of_type("AWS::Lambda::Function").items():
            p = res.get("Properties", {})
            env = self.resolve(p.get("Environment", {}).get("Variables", {}))
            out[lid] = FunctionSpec(
                logical_id=lid,
                name=self.physical_name(lid),
                arn=self.arn(lid),
                handler=str(p.get("Handler", "")),
                runtime=str(p.get("Runtime", "")),
                environment={k: str(v) for k, v in env.items()},
                timeout=int(p.get("Timeout", 3)),
                memory=int(p.get("MemorySize", 128)),
            )
        return out

    def function_by_ref(self, value: str) -> FunctionSpec:
        """The function a resolved name or ARN (possibly qualified) refers to."""
        for spec in self.functions().values():
            if value in (spec.name, spec.arn) or value.startswith(spec.arn + ":"):
                return spec
        raise TemplateError(f"no function {value!r} in the template")

    def state_machines(self) -> dict[str, StateMachineSpec]:
        """Every state machine, by physical name, with its definition resolved (ARNs substituted)."""
        out: dict[str, StateMachineSpec] = {}
        for lid, res in self.of_type("AWS::StepFunctions::StateMachine").items():
            p = res.get("Properties", {})
            if "DefinitionString" in p:
                text = self.resolve(p["DefinitionString"])
                definition = json.loads(text) if isinstance(text, str) else text
            else:
                definition = self.resolve(p.get("Definition", {}))
            subs = {k: str(self.resolve(v)) for k, v in p.get("DefinitionSubstitutions", {}).items()}
            if subs:
                text = json.dumps(definition)
                for key, val in subs.items():
                    text = text.replace("${" + key + "}", val)
                definition = json.loads(text)
            name = self.physical_name(lid)
            out[name] = StateMachineSpec(
                logical_id=lid,
                name=name,
                arn=self.arn(lid),
                definition=definition,
                type=str(p.get("StateMachineType", "STANDARD")),
            )
        return out

    def rules(self) -> dict[str, RuleSpec]:
        """EventBridge rules and EventBridge Scheduler schedules, by logical id."""
        out: dict[str, RuleSpec] = {}
        for lid, res in self.of_type("AWS::Events::Rule").items():
            p = self.resolve(res.get("Properties", {}))
            pattern = p.get("EventPattern")
            if isinstance(pattern, str):
                pattern = json.loads(pattern)
            out[lid] = RuleSpec(
                logical_id=lid,
                name=self.physical_name(lid),
                bus_name=self._rule_bus(lid),
                pattern=pattern,
                schedule=p.get("ScheduleExpression"),
                schedule_timezone=None,
                targets=[_target(t) for t in p.get("Targets", [])],
                enabled=p.get("State", "ENABLED") == "ENABLED",
            )
        for lid, res in self.of_type("AWS::Scheduler::Schedule").items():
            p = self.resolve(res.get("Properties", {}))
            t = p.get("Target", {})
            out[lid] = RuleSpec(
                logical_id=lid,
                name=self.physical_name(lid),
                bus_name=None,
                pattern=None,
                schedule=p.get("ScheduleExpression"),
                schedule_timezone=p.get("ScheduleExpressionTimezone"),
                targets=[
                    TargetSpec(
                        id="0",
                        arn=t.get("Arn", ""),
                        input=t.get("Input"),
                        dead_letter_arn=t.get("DeadLetterConfig", {}).get("Arn"),
                    )
                ],
                enabled=p.get("State", "ENABLED") == "ENABLED",
            )
        return out

    def _rule_bus(self, logical_id: str) -> str | None:
        bus = self.props(logical_id).get("EventBusName")
        if bus is None:
            return "default"
        name = str(self.resolve(bus))
        return name.rsplit("/", 1)[-1] if name.startswith("arn:") else name

    def buses(self) -> list[str]:
        return [self.physical_name(lid) for lid in self.of_type("AWS::Events::EventBus")]

    def queues(self) -> dict[str, QueueSpec]:
        """Every SQS queue, by ARN."""
        out: dict[str, QueueSpec] = {}
        for lid, res in self.of_type("AWS::SQS::Queue").items():
            p = self.resolve(res.get("Properties", {}))
            redrive = p.get("RedrivePolicy") or {}
            if isinstance(redrive, str):
                redrive = json.loads(redrive)
            arn = self.arn(lid)
            out[arn] = QueueSpec(
                logical_id=lid,
                name=self.physical_name(lid),
                arn=arn,
                url=self.get_att(lid, "QueueUrl"),
                fifo=bool(p.get("FifoQueue", False)),
                visibility_timeout=int(p.get("VisibilityTimeout", 30)),
                dead_letter_arn=redrive.get("deadLetterTargetArn"),
                max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
            )
        return out

    def event_source_mappings(self) -> list[EventSourceMappingSpec]:
        out: list[EventSourceMappingSpec] = []
        for lid, res in self.of_type("AWS::Lambda::EventSourceMapping").items():
            p = self.resolve(res.get("Properties", {}))
            source = str(p.get("EventSourceArn", ""))
            if ":sqs:" not in source:
                continue
            out.append(
                EventSourceMappingSpec(
                    logical_id=lid,
                    queue_arn=source,
                    function_name=self.function_by_ref(str(p["FunctionName"])).name,
                    batch_size=int(p.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in p.get("FunctionResponseTypes", []),
                    enabled=bool(p.get("Enabled", True)),
                )
            )
        return out

    def tables(self) -> list[TableSpec]:
        out: list[TableSpec] = []
        for rtype in ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
            for lid, res in self.of_type(rtype).items():
                p = self.resolve(res.get("Properties", {}))
                ttl = p.get("TimeToLiveSpecification") or {}
                out.append(
                    TableSpec(
                        logical_id=lid,
                        name=self.physical_name(lid),
                        key_schema=p.get("KeySchema", []),
                        attribute_definitions=p.get("AttributeDefinitions", []),
                        global_secondary_indexes=p.get("GlobalSecondaryIndexes", []),
                        ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled", True) else None,
                        point_in_time_recovery=bool(
                            (p.get("PointInTimeRecoverySpecification") or {}).get(
                                "PointInTimeRecoveryEnabled"
                            )
                        ),
                    )
                )
        return out

    def athena_workgroups(self) -> list[dict[str, Any]]:
        """``AWS::Athena::WorkGroup`` resources as ``CreateWorkGroup`` arguments (name, configuration)."""
        out = []
        for lid in self.of_type("AWS::Athena::WorkGroup"):
            p = self.resolve(self.props(lid))
            config = p.get("WorkGroupConfiguration") or {}
            out.append(
                {
                    "Name": p["Name"],
                    "Configuration": {
                        k: config[k]
                        for k in (
                            "BytesScannedCutoffPerQuery",
                            "EnforceWorkGroupConfiguration",
                            "ResultConfiguration",
                        )
                        if k in config
                    },
                }
            )
        return out

    def output(self, name: str) -> Any:
        """A stack output's value, resolved (None when the template has no such output)."""
        spec = (self.body.get("Outputs") or {}).get(name)
        return self.resolve(spec["Value"]) if spec else None

    def buckets(self) -> list[str]:
        return [self.physical_name(lid) for lid in self.of_type("AWS::S3::Bucket")]

    def secrets(self) -> list[SecretSpec]:
        out: list[SecretSpec] = []
        for lid, res in self.of_type("AWS::SecretsManager::Secret").items():
            p = self.resolve(res.get("Properties", {}))
            out.append(
                SecretSpec(
                    logical_id=lid,
                    name=self.physical_name(lid),
                    secret_string=p.get("SecretString"),
                    generate=p.get("GenerateSecretString"),
                )
            )
        return out

    def ses_configuration_sets(self) -> list[str]:
        return [self.physical_name(lid) for lid in self.of_type("AWS::SES::ConfigurationSet")]

    def ses_identities(self) -> list[str]:
        return [self.physical_name(lid) for lid in self.of_type("AWS::SES::EmailIdentity")]

    def routes(self) -> list[RouteSpec]:
        """HTTP API routes whose integration is a Lambda function."""
        out: list[RouteSpec] = []
        for lid, res in self.of_type("AWS::ApiGatewayV2::Route").items():
            p = res.get("Properties", {})
            route_key = str(self.resolve(p["RouteKey"]))
            target = str(self.resolve(p.get("Target", "")))
            integration_id = target.split("/", 1)[1] if target.startswith("integrations/") else None
            if not integration_id or integration_id not in self.resources:
                continue
            uri = str(self.resolve(self.props(integration_id).get("IntegrationUri", "")))
            function_arn = _function_arn_from_uri(uri)
            if function_arn is None:
                continue
            method, _, path = route_key.partition(" ")
            out.append(
                RouteSpec(
                    route_key=route_key,
                    method=method,
                    path=path,
                    function_name=self.function_by_ref(function_arn).name,
                )
            )
        return out


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE = _NoValue()


def _target(t: dict[str, Any]) -> TargetSpec:
    return TargetSpec(
        id=str(t.get("Id", "")),
        arn=str(t.get("Arn", "")),
        input=t.get("Input"),
        input_path=t.get("InputPath"),
        input_transformer=t.get("InputTransformer"),
        dead_letter_arn=(t.get("DeadLetterConfig") or {}).get("Arn"),
    )


def _function_arn_from_uri(uri: str) -> str | None:
    """An integration URI is the function ARN, or the API Gateway invocation form wrapping it."""
    m = re.search(r"(arn:aws:lambda:[^:]+:\d+:function:[A-Za-z0-9_-]+(?::[A-Za-z0-9$_-]+)?)", uri)
    return m.group(1) if m else None
