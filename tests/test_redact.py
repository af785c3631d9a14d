"""The redaction module on the forms secrets take (all constructed) and on text that only looks alike."""

import pytest

from envdoctor.redact import MARK, redact, redact_obj

CASES = [
    ('{"CONDA_TOKEN": "abc123", "PATH": "/usr/bin"}', '{"CONDA_TOKEN": "<redacted>", "PATH": "/usr/bin"}'),
    ('{"proxies": {"http-proxy": "http://bob:hunter2@proxy:3128"}}',
     '{"proxies": {"http-proxy": "http://bob:<redacted>@proxy:3128"}}'),
    ("export HF_TOKEN=abc", "export HF_TOKEN=<redacted>"),
    ('TORCH_HUB_TOKEN="two words"', 'TORCH_HUB_TOKEN="<redacted>"'),
    ("Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer <redacted>"),
    ("curl -H 'X: Bearer abcdefghijklmnop'", "curl -H 'X: Bearer <redacted>'"),
    ("password: hunter2", "password: <redacted>"),
    ("url https://x-access-token:ghp_1234567890abcdefghijABCDEFGHIJ123456@github.com/a",
     "url https://x-access-token:<redacted>@github.com/a"),
    ('{"auths": {"reg.io": {"auth": "Ym9iOmh1bnRlcjI="}}}', '{"auths": {"reg.io": {"auth": "<redacted>"}}}'),
    ("key AKIAABCDEFGHIJKLMNOP end", "key <redacted> end"),
    ("OPENAI_KEY_FILE sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t", "OPENAI_KEY_FILE <redacted>"),
    ("jupyter at http://host:8888/?token=abcdef0123", "jupyter at http://host:8888/?token=<redacted>"),
    # a secret-named flag with its value as the next word, or the next item of an argv list
    ("mlflow server --password hunter2xyz --port 5000", "mlflow server --password <redacted> --port 5000"),
    ("cli --token abc", "cli --token <redacted>"),
    ("jupyter lab --ServerApp.token 'two words'", "jupyter lab --ServerApp.token '<redacted>'"),
    ("docker login -u bob -p hunter2 registry.example", "docker login -u bob -p <redacted> registry.example"),
    ('["jupyter", "--NotebookApp.token", "abc123"]', '["jupyter", "--NotebookApp.token", "<redacted>"]'),
    ('{"password": 123456, "port": 8888}', '{"password": "<redacted>", "port": 8888}'),
    ("http_proxy=http://bob:pa/ss@proxy:3128", "http_proxy=http://bob:<redacted>@proxy:3128"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH PRIVATE KEY-----\n", MARK + "\n"),
]

NOT_SECRETS = [
    "    Accounting Mode : Disabled",
    '{"unauthenticated_get": "200 OK", "author": "me"}',
    "xghp_aaaaaaaaaaaaaaaaaaaaaaaa",
    "Failed to initialize NVML: Driver/library version mismatch",
    "NCCL_DEBUG=INFO",
    "https://example.com:8443/path@v2",
    # a flag whose last word is not the secret: its value is a registry or a path, not the secret
    "docker login --password-stdin registry.example",
    "cli --token-file /etc/cli/token --port 5000",
    "login -p -h host bob",
    # sshd -T's algorithm names are evidence, not keys
    "hostkeyalgorithms ecdsa-sha2-nistp256,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,sk-ssh-ed25519-cert-v01@openssh.com",
]


@pytest.mark.parametrize("text,want", CASES)
def test_secret_forms_are_redacted(text, want):
    assert redact(text) == want
    assert redact(want) == want  # idempotent


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_look_alikes_are_kept(text):
    assert redact(text) == text


def test_structures_by_key_and_value():
    assert redact_obj({"a": [{"SESSION_ID": "x"}, "http://u:p@h"], "n": 3}) == \
        {"a": [{"SESSION_ID": MARK}, "http://u:<redacted>@h"], "n": 3}


def test_non_string_values_under_secret_keys():
    # Numbers and lists hidden; a flag (token required: True), None and empty values kept: they say what is set.
    assert redact_obj({"token": ["a", 7], "password": 123456, "x": {"secret": 1.5}, "auth": True,
                       "session": None, "n": 3}) == \
        {"token": [MARK, MARK], "password": MARK, "x": {"secret": MARK}, "auth": True, "session": None, "n": 3}
