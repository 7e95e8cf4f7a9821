"""THE one place for Lambda defaults. Every enishi function is made by ``FunctionFactory.create``.

Each function gets: the shared code asset (``functions/``), the three layers (Powertools, dependencies, shop config
at ``/opt/shop``), python3.13 on arm64, active tracing, JSON logs into its own log group with retention, and its own
role that can do nothing but write its logs and traces until a construct grants it more (``grant_*``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import AssetHashType, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from enishi import constants as c
from infra import assets
from infra.nag import acknowledge
from infra.paths import FUNCTIONS_DIR, LAYERS_BUILD_DIR, SHOP_DIR

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
SHOP_MOUNT = "/opt/shop"  # a layer is extracted under /opt; the shop layer holds shop/…
SERVICE_NAME = (
    "enishi"  # POWERTOOLS_SERVICE_NAME of every function: metrics carry the dimension service=enishi
)
DEFAULT_TIMEOUT = Duration.seconds(10)

# layers/build.py writes layers/build/<name>/python (+ .hash); the shop layer is staged as layers/build/shop/shop
LAYER_POWERTOOLS = "powertools"
LAYER_DEPENDENCIES = "dependencies"
LAYER_SHOP = assets.SHOP_LAYER
HASH_FILE = assets.HASH_FILE

CODE_EXCLUDE = [
    "**/__pycache__",
    "**/*.pyc",
    "**/tests",
    "**/*.egg-info",
    "**/.pytest_cache",
    "**/.mypy_cache",
]


class LayersNotBuilt(RuntimeError):
    """The Lambda layers are built by `make install` (network needed once); synth itself is offline."""


def built_layer(name: str, build_dir: Path = LAYERS_BUILD_DIR) -> tuple[Path, str]:
    """Folder of a built layer and its content hash (written by layers/build.py), or a clear error."""
    folder = build_dir / name
    marker = folder / HASH_FILE
    if not marker.is_file():
        raise LayersNotBuilt(
            f"Lambda layer '{name}' is not built ({folder} is missing). Run `make install` "
            "(or `.venv/bin/python -m layers.build`) once with network access; synth then works offline."
        )
    return folder, marker.read_text().strip()


class FunctionFactory(Construct):
    """Holds what every function shares; ``create`` makes one function with its own role and log group."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        build_dir: Path = LAYERS_BUILD_DIR,
        code_dir: Path = FUNCTIONS_DIR,
        shop_dir: Path = SHOP_DIR,
    ) -> None:
        super().__init__(scope, id)
        assets.stage_shop(
            shop_dir, build_dir
        )  # cheap (a few KB); keeps /opt/shop equal to shop/ at every synth
        self.table = table
        self.bus = bus
        self._log_retention = log_retention
        self._removal_policy = removal_policy
        self.code = lambda_.Code.from_asset(str(code_dir), exclude=CODE_EXCLUDE)
        self.layers: dict[str, lambda_.ILayerVersion] = {
            name: self._layer(name, description, build_dir)
            for name, description in (
                (LAYER_POWERTOOLS, "Powertools for AWS Lambda (Python) v3 with the tracer extra"),
                (
                    LAYER_DEPENDENCIES,
                    "enishi runtime dependencies: pydantic, jinja2, pyyaml (boto3 from the runtime)",
                ),
                (LAYER_SHOP, f"the shop's configuration and templates (shop/), mounted at {SHOP_MOUNT}"),
            )
        }
        self.common_environment: dict[str, str] = {
            c.ENV_TABLE_NAME: table.table_name,
            c.ENV_EVENT_BUS_NAME: bus.event_bus_name,
            c.ENV_SHOP_CONFIG_DIR: SHOP_MOUNT,
            c.ENV_POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
            c.ENV_POWERTOOLS_METRICS_NAMESPACE: c.METRICS_NAMESPACE,
            # traces must not carry customer data: responses hold e-mail addresses and names
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
            "POWERTOOLS_LOGGER_LOG_EVENT": "false",
        }
        self.functions: dict[str, lambda_.Function] = {}

    def _layer(self, name: str, description: str, build_dir: Path) -> lambda_.LayerVersion:
        folder, content_hash = built_layer(name, build_dir)
        return lambda_.LayerVersion(
            self,
            f"{name.capitalize()}Layer",
            # the hash of the requirement list (or of shop/) is the asset hash: no re-hashing 30 MB on every synth
            code=lambda_.Code.from_asset(
                str(folder),
                asset_hash=content_hash,
                asset_hash_type=AssetHashType.CUSTOM,
                exclude=[HASH_FILE],
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=description,
        )

    def create(
        self,
        id: str,
        *,
        handler: str,
        description: str,
        environment: Mapping[str, str] | None = None,
        timeout: Duration | None = None,
        memory_size: int = 256,
        scope: Construct | None = None,
    ) -> lambda_.Function:
        """One function: ``handler`` like ``enishi.intake.handler.handler``; ``environment`` adds to the common one.

        ``scope`` groups it under the construct that owns it (default: this factory). The role starts empty
        (logs + X-Ray only): grant what the function needs where it is wired.
        """
        parent = scope or self
        log_group = logs.LogGroup(
            parent,
            f"{id}Logs",
            retention=self._log_retention,
            removal_policy=self._removal_policy,
        )
        role = iam.Role(
            parent,
            f"{id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"enishi {id}: least privilege, granted by its construct",
        )
        # no AWSLambdaBasicExecutionRole (it allows every log group): only this function's own log group
        log_group.grant_write(role)
        fn = lambda_.Function(
            parent,
            id,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=self.code,
            handler=handler,
            description=description,
            role=role,
            layers=list(self.layers.values()),
            environment={**self.common_environment, **(environment or {})},
            timeout=timeout or DEFAULT_TIMEOUT,
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions (active tracing).",
        )
        acknowledge(
            fn,
            "AwsSolutions-L1",
            "python3.13 on purpose: the dependencies layer is built for cp313 wheels and the code is tested on "
            "3.11-3.13; moving to a newer runtime is a deliberate change with a rebuilt layer.",
        )
        self.functions[id] = fn
        return fn


__all__ = ["ARCHITECTURE", "RUNTIME", "SHOP_MOUNT", "FunctionFactory", "LayersNotBuilt", "built_layer"]
