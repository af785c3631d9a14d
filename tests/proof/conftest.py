"""The proof script's functions, imported here from the file on disk, read the vocabulary the controller
writes into the copy it sends (envdoctor/vocabulary.py): give the imported module that same vocabulary."""

import pytest

import envdoctor.proof.proof_script as proof_script
from envdoctor.vocabulary import PROOF, vocabulary


@pytest.fixture(autouse=True)
def _vocabulary_as_sent(monkeypatch):
    monkeypatch.setattr(proof_script, "VOCABULARY", vocabulary(PROOF))
