"""Stage config from context, the Docker-free layer build's cache, shop staging and the synth cache (no network)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from infra import assets
from infra.config import StageConfig, identity_covers
from infra.paths import ROOT


def _load_layers_build():
    """layers/ is a script folder, not an installed package: load build.py by path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("layers_build", ROOT / "layers" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_layers_build()


def context_getter(values: dict[str, object]):
    return lambda key: values.get(key)


# ---- config
def test_config_defaults_to_tokyo_and_retains_data():
    config = StageConfig.from_context(context_getter({}))
    assert config.region == "ap-northeast-1"
    assert config.account is None
    assert config.retain_data is True
    assert config.ses_identity is None


def test_config_reads_camel_case_context_and_coerces_cli_strings():
    # Given values as `cdk -c` passes them (strings)
    config = StageConfig.from_context(
        context_getter(
            {"enishi:region": "us-east-1", "enishi:sesIdentity": "shop.example.jp", "enishi:retainData": "false",
             "enishi:apiRateLimit": "20"}
        )
    )  # fmt: skip
    assert (config.region, config.ses_identity, config.retain_data, config.api_rate_limit) == (
        "us-east-1", "shop.example.jp", False, 20.0,
    )  # fmt: skip
    # no explicit sender: shop.yaml's from_address (with its display name) is what the step sends with
    assert config.from_address_override is None
    assert config.check_sender("縁茶房 <news@shop.example.jp>") == "縁茶房 <news@shop.example.jp>"


def test_an_explicit_sender_wins_over_shop_yaml():
    config = StageConfig(ses_identity="shop.example.jp", ses_from_address="info@shop.example.jp")
    assert config.check_sender("縁茶房 <news@shop.example.jp>") == "info@shop.example.jp"


@pytest.mark.parametrize(
    ("identity", "sender", "covered"),
    [
        ("shop.example.jp", "縁茶房 <news@shop.example.jp>", True),
        ("example.jp", "news@mail.example.jp", True),  # a parent domain identity covers its subdomains
        ("mail.example.jp", "news@example.jp", False),
        ("shop.example.jp", "news@notshop.example.jp", False),
        ("news@shop.example.jp", "縁茶房 <NEWS@shop.example.jp>", True),
        ("news@shop.example.jp", "info@shop.example.jp", False),
    ],
)
def test_identity_covers_the_sender(identity, sender, covered):
    assert identity_covers(identity, sender) is covered


def test_a_sender_the_identity_does_not_cover_fails_the_synth():
    config = StageConfig(ses_identity="mail.your-shop.jp")
    with pytest.raises(ValueError, match="not covered by the SES identity"):
        config.check_sender("縁茶房 <news@mail.enishi-sabo.example>")


# ---- layers
def test_requirements_hash_changes_with_the_requirement_list(monkeypatch):
    before = build.requirements_hash("dependencies")
    monkeypatch.setitem(build.REQUIREMENTS, "dependencies", [*build.REQUIREMENTS["dependencies"], "orjson"])
    assert build.requirements_hash("dependencies") != before


def test_layers_never_ship_boto3():
    assert not [r for name in build.REQUIREMENTS for r in build.REQUIREMENTS[name] if r.startswith("boto")]


def test_a_current_layer_is_not_rebuilt(tmp_path, monkeypatch):
    # Given a built layer whose marker matches the requirement list
    (tmp_path / "powertools").mkdir()
    (tmp_path / "powertools" / assets.HASH_FILE).write_text(build.requirements_hash("powertools") + "\n")

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run for a cached layer")

    monkeypatch.setattr(subprocess, "run", no_pip)
    # When the build runs again, Then it returns at once without calling pip
    assert build.build_pip_layer("powertools", tmp_path) is False


def test_a_stale_layer_is_rebuilt_with_the_aarch64_cp313_wheels(tmp_path, monkeypatch):
    (tmp_path / "powertools").mkdir()
    (tmp_path / "powertools" / assets.HASH_FILE).write_text("stale\n")
    calls: list[list[str]] = []

    def fake_pip(cmd, check):
        calls.append(cmd)
        target = Path(cmd[cmd.index("--target") + 1])
        (target / "aws_lambda_powertools").mkdir(parents=True)
        (target / "boto3").mkdir()  # pulled in by a dependency: must be pruned

    monkeypatch.setattr(subprocess, "run", fake_pip)
    assert build.build_pip_layer("powertools", tmp_path) is True
    cmd = calls[0]
    assert cmd[cmd.index("--platform") + 1] == "manylinux2014_aarch64"
    assert cmd[cmd.index("--python-version") + 1] == "3.13"
    assert "--only-binary=:all:" in cmd
    built = tmp_path / "powertools"
    assert (built / "python" / "aws_lambda_powertools").is_dir()
    assert not (built / "python" / "boto3").exists()
    assert assets.is_current(built, build.requirements_hash("powertools"))


def test_shop_is_staged_under_shop_and_restaged_only_when_it_changes(tmp_path):
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "shop.yaml").write_text("name: 縁商店\n", encoding="utf-8")
    out = tmp_path / "build"
    assert assets.stage_shop(shop, out) is True
    assert (out / "shop" / "shop" / "shop.yaml").read_text(
        encoding="utf-8"
    ) == "name: 縁商店\n"  # → /opt/shop
    assert assets.stage_shop(shop, out) is False
    (shop / "shop.yaml").write_text("name: 縁商店 本店\n", encoding="utf-8")
    assert assets.stage_shop(shop, out) is True
    assert "本店" in (out / "shop" / "shop" / "shop.yaml").read_text(encoding="utf-8")


def test_synth_without_built_layers_says_to_run_make_install(tmp_path):
    from infra.constructs.function import LayersNotBuilt, built_layer

    with pytest.raises(LayersNotBuilt, match="make install"):
        built_layer("dependencies", tmp_path)


# ---- synth cache
def test_template_file_matches_the_stack_name():
    from infra.app import STACK_NAME
    from infra.synth import TEMPLATE_FILE

    assert f"{STACK_NAME}.template.json" == TEMPLATE_FILE


def test_synth_cache_key_changes_with_context():
    from infra.synth import inputs_hash

    assert inputs_hash({"enishi:sesIdentity": "a.example"}) != inputs_hash({})
    assert inputs_hash({}) == inputs_hash(None)


@pytest.mark.slow
def test_a_cached_synth_returns_the_same_template_without_synthesizing(template_path, monkeypatch):
    import infra.app
    from infra.synth import synthesize

    def must_not_build(*args, **kwargs):
        raise AssertionError("a cache hit must not synthesize")

    monkeypatch.setattr(infra.app, "build_app", must_not_build)
    again = synthesize()
    assert again == template_path
    assert json.loads(again.read_text())["Resources"]
