"""enishi's CDK app (Python). ``python -m infra.app`` synthesizes; ``infra.app.build_app`` is for tests.

jsii prints a Node end-of-life banner on every start. Node 20 is past end-of-life for jsii 1.142, and the
variable that silences an *end-of-life* version is ``JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION`` (a list of
major versions), not ``…_DEPRECATED_NODE_VERSION`` (which only covers deprecated, not yet end-of-life versions).
Set before anything imports aws_cdk (the jsii runtime reads it when it starts).
"""

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
