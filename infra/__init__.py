"""enishi's CDK app (Python). ``python -m infra.app`` synthesizes; ``infra.app.build_app`` is the entry for tests."""
