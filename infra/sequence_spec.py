"""The sequences.yaml model for CDK: the same pydantic model the Lambda code uses (one definition, no twin)."""

from enishi.sequences.domain.spec import SequencesSpec, StepPayload, load_spec

__all__ = ["SequencesSpec", "StepPayload", "load_spec"]
