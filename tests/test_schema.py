"""The model file's JSON Schema: published, strict, and true to the bundled file."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import jsonschema
import pytest

from vtex_order_flow._schema import model_file_json_schema
from vtex_order_flow._vocabulary import CAUSES
from vtex_order_flow.model import Confidence

SCHEMA = model_file_json_schema()


def bundled_data() -> dict[str, Any]:
    text = resources.files("vtex_order_flow").joinpath("data", "vtex.toml").read_text("utf-8")
    return tomllib.loads(text)


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_bundled_model_validates_against_the_published_schema() -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(bundled_data())


def test_schema_lists_the_causes_and_confidences() -> None:
    transition = SCHEMA["$defs"]["TransitionSpec"]["properties"]
    causes = transition["cause"]["anyOf"][0]["enum"]
    assert causes == list(CAUSES)
    confidence = SCHEMA["$defs"][transition["confidence"]["$ref"].rsplit("/", 1)[1]]
    assert confidence["enum"] == [level.value for level in Confidence]  # one definition: the enum
    assert "from" in transition
    assert "to" in transition


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["statuses"][0].pop("meaning"),
        lambda d: d["transitions"][0].update(confidence="certain"),
        lambda d: d["transitions"][0].update(unknown_field=1),
        lambda d: d["transitions"][0].update(after=-5),
    ],
)
def test_schema_refuses_what_the_loader_refuses(breakage: Any) -> None:
    data = bundled_data()
    breakage(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(data)
