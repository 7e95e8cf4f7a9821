"""One reading of an AWS error's code for every adapter (it replaced three private copies)."""

from botocore.exceptions import ClientError

from enishi.aws_errors import error_code, lost_condition


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "PutItem")


def test_a_failed_condition_is_a_lost_race_and_nothing_else_is():
    assert lost_condition(_client_error("ConditionalCheckFailedException"))
    assert not lost_condition(_client_error("ProvisionedThroughputExceededException"))
    assert not lost_condition(ValueError("ConditionalCheckFailedException"))


def test_the_code_of_odd_shapes_is_empty_not_an_exception():
    class Carrying(Exception):
        def __init__(self, response: object) -> None:
            self.response = response

    assert error_code(Carrying({"Error": "not a mapping"})) == ""
    assert error_code(Carrying(None)) == ""
    assert error_code(_client_error("ThrottlingException")) == "ThrottlingException"
