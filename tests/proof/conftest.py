"""The proof script's parts, imported here as modules (envdoctor/proof/script/), read the vocabulary the controller
writes into the assembled copy it sends (envdoctor/vocabulary.py): give the part that holds it that same vocabulary."""

import pytest

from envdoctor.proof.script import clock_reasons
from envdoctor.vocabulary import PROOF, vocabulary


@pytest.fixture(autouse=True)
def _vocabulary_as_sent(monkeypatch):
    monkeypatch.setattr(clock_reasons, "VOCABULARY", vocabulary(PROOF))
