"""What an API answered is kept as a file: versioned by content, and never left behind."""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from finops import sources
from finops.errors import UserError


def _leftovers() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("finops-fetched-*"))


def test_a_fetched_answer_is_versioned_by_its_content_and_removed_when_dropped() -> None:
    before = _leftovers()
    one = sources.fetched("aws-ce://", "aws-cost-explorer", [b'{"a":', b" 1}"])
    two = sources.fetched("aws-ce://", "aws-cost-explorer", [b'{"a": 1}'])
    assert (one.version, one.size, one.format) == (two.version, 8, "aws-cost-explorer")
    with one.open() as stream:
        assert stream.read() == b'{"a": 1}'
    assert len(_leftovers() - before) == 2
    del one, two
    gc.collect()
    assert _leftovers() - before == set()


def test_a_fetch_that_fails_half_way_leaves_no_file() -> None:
    before = _leftovers()

    def pages() -> Iterator[bytes]:
        yield b'{"page": 1}\n'
        raise UserError("the API said 503")

    with pytest.raises(UserError, match="503"):
        sources.fetched("azure://subscriptions/x", "azure-export", pages())
    assert _leftovers() - before == set()


def test_an_api_source_is_named_without_its_options() -> None:
    from finops import connectors

    connectors.names()  # the connectors register their schemes
    assert sources.source_name("bigquery://p.billing.gcp_billing_export_v1?months=12") == (
        "bigquery://p.billing.gcp_billing_export_v1"
    )
    assert sources.source_name("aws-ce://?months=2&tag=team") == "aws-ce://"
    assert sources.source_name("/data/exports/odd?name.csv") == "/data/exports/odd?name.csv"
