"""Each real case of the corpus is a test: the paste, read as `check --from` reads it, must name the
cause class the thread concluded first; a healthy output must not be called broken (no named cause,
no failed check). Cases: tests/data/corpus/cases/<collector>/ (`# class:` header) plus the older
labelled corpus files (tests/corpus.py)."""

import pytest

from envdoctor.catalog import load_catalog
from tests.corpus import corpus_body, diagnose_paste, labelled_cases

# Cases we do not score, each with the reason (the files stay as collected).
EXCLUDED: dict[str, str] = {}

CASES = {k: v for k, v in labelled_cases().items() if k not in EXCLUDED}


@pytest.fixture(scope="module")
def checks():
    return load_catalog()


@pytest.mark.parametrize("rel", sorted(CASES))
def test_case_names_its_cause_first(rel, checks):
    want = CASES[rel]
    named, failing, report = diagnose_paste(corpus_body(rel), checks)
    rc = next(c for c in report.checks if c.id == "root_cause")
    assert named == want, (rel, want, named, rc.summary, rc.evidence[:4])
    if want == "healthy":
        assert not failing, (rel, failing)
