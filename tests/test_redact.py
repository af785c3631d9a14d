"""The redaction module on the forms secrets take (all constructed) and on text that only looks alike."""

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from envdoctor.cli import main
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

# Constructed: the shapes of issue 21's second round, each as a log or config line carries it.
SHAPES = [
    ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Zm9vYmFyYmF6cXV4==;EndpointSuffix=core.windows.net",
     "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=<redacted>;EndpointSuffix=core.windows.net"),
    ("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=a2V5a2V5a2V5=",
     "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=<redacted>"),
    ("GET https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sr=b&sig=AbC%2Bdef%3D&se=2030",
     "GET https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sr=b&sig=<redacted>&se=2030"),
    ("curl -H 'Authorization: token 0123456789abcdef0123' https://api.example/x",
     "curl -H 'Authorization: token <redacted>' https://api.example/x"),
    ("> authorization: abc123def", "> authorization: <redacted>"),
    ("curl -H 'PRIVATE-TOKEN: abcd1234' https://gitlab.example", "curl -H 'PRIVATE-TOKEN: <redacted>' https://gitlab.example"),
    ("    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=",
     "    client-key-data: <redacted>"),
    ("    token: kubeadm.abcdef0123456789", "    token: <redacted>"),
    ("redis_url=redis://:s3cretpass@cache:6379/0", "redis_url=redis://:<redacted>@cache:6379/0"),
    ("machine api.example.com login bob password hunter2", "machine api.example.com login bob password <redacted>"),
    ("machine api.example.com\n  login bob\n  password hunter2\n", "machine api.example.com\n  login bob\n  password <redacted>\n"),
    ("+ curl -sS -u bob:hunter2 https://x.example/api", "+ curl -sS -u bob:<redacted> https://x.example/api"),
    ("curl --user=bob:hunter2 https://x", "curl --user=bob:<redacted> https://x"),
    ("Driver={ODBC Driver 18 for SQL Server};Server=db;Uid=sa;Pwd=Str0ng!pass;Encrypt=yes",
     "Driver={ODBC Driver 18 for SQL Server};Server=db;Uid=sa;Pwd=<redacted>;Encrypt=yes"),
    ("Server=db;Uid=sa;Pwd={a;b};", "Server=db;Uid=sa;Pwd=<redacted>;"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----\nnext", MARK + "\nnext"),
    ("User name,Password,Access key ID,Secret access key,Console login link\n"
     "bob,pw123,AKIAABCDEFGHIJKLMNOP,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY,https://console.example\n",
     "User name,Password,Access key ID,Secret access key,Console login link\n"
     "bob,<redacted>,<redacted>,<redacted>,https://console.example\n"),
    ("Access key ID,Secret access key\nAKIAABCDEFGHIJKLMNOP,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "Access key ID,Secret access key\n<redacted>,<redacted>"),
    ("notify https://hooks.slack.com/services/T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXXXXX done",
     "notify https://hooks.slack.com/services/<redacted> done"),
    ("https://discord.com/api/webhooks/123456789012345678/abcDEF-ghi_JKL", "https://discord.com/api/webhooks/<redacted>"),
    ("https://contoso.webhook.office.com/webhookb2/1234-abcd@5678/IncomingWebhook/abc/def",
     "https://contoso.webhook.office.com/webhookb2/<redacted>"),
    ("maps key=AIzaSyA1234567890abcdefghijklmnopqrstuv", "maps key=<redacted>"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe <redacted>"),
    ("announce https://tracker.example/announce.php?passkey=0123456789abcdef", "announce https://tracker.example/announce.php?passkey=<redacted>"),
    ("https://tracker.example/0123456789abcdef0123456789abcdef/announce",
     "https://tracker.example/<redacted>/announce"),
    ("aws_access_key_id ASIAABCDEFGHIJKLMNOP", "aws_access_key_id <redacted>"),
    ("train.py --api-key abc123 --epochs 3", "train.py --api-key <redacted> --epochs 3"),
    ("tool --secret-key abc123", "tool --secret-key <redacted>"),
    ("header eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlMDE.tail",
     "header <redacted>.tail"),
]

# A secret flag followed by its value, where only the program tells the flag is a password (constructed).
PROGRAM_FLAGS = [
    ("sshpass -p hunter2 ssh gpu01", "sshpass -p <redacted> ssh gpu01"),
    ("sshpass -phunter2 ssh gpu01", "sshpass -p<redacted> ssh gpu01"),
    ('sshpass -p "two words" ssh gpu01', 'sshpass -p "<redacted>" ssh gpu01'),
    ("mysql -u root -phunter2 db", "mysql -u root -p<redacted> db"),
    ("mysql -u root -p'two words' db", "mysql -u root -p'<redacted>' db"),
    ("mysql -u root -p hunter2", "mysql -u root -p <redacted>"),  # mysql reads a database there; hidden anyway
    ("$ sudo /usr/bin/mysqldump -phunter2 db > x.sql; ssh -p 22 gpu01", "$ sudo /usr/bin/mysqldump -p<redacted> db > x.sql; ssh -p 22 gpu01"),
    ("redis-cli -h cache -a hunter2 ping", "redis-cli -h cache -a <redacted> ping"),
    ("redis-cli --pass=hunter2 ping", "redis-cli --pass=<redacted> ping"),
    ("ipmitool -I lanplus -H bmc01 -U admin -P hunter2 -p 623 sel list",
     "ipmitool -I lanplus -H bmc01 -U admin -P <redacted> -p 623 sel list"),
    ("racadm -r bmc01 -u root -p calvin getsysinfo", "racadm -r bmc01 -u root -p <redacted> getsysinfo"),
    ("ldapsearch -x -D cn=admin -w hunter2 -b dc=x", "ldapsearch -x -D cn=admin -w <redacted> -b dc=x"),
    ("mongosh -u admin -p hunter2 db", "mongosh -u admin -p <redacted> db"),
    ("echo x | sshpass -p hunter2 ssh h && mysql -phunter3", "echo x | sshpass -p <redacted> ssh h && mysql -p<redacted>"),
    ("curl -ubob:hunter2 https://x", "curl -ubob:<redacted> https://x"),
    ("smbclient //nas/share -U bob%hunter2", "smbclient //nas/share -U bob%<redacted>"),
    ("openssl pkcs12 -in a.p12 -passin pass:hunter2 -nodes", "openssl pkcs12 -in a.p12 -passin pass:<redacted> -nodes"),
]

SHAPE_LOOK_ALIKES = [
    "ssh -p 2222 gpu01",  # a port: -p is secret only after the programs that take a password there
    "docker run -p 8080:80 -u 1000:1000 image",
    "mysql -p -u root db",  # -p alone prompts; -u is the next flag
    "tar -cpf x.tar /var/lib/mysql",
    "ipmitool -U admin -p 623 sel list",
    "date -U +%s",
    "openssl pkcs12 -passin env:P12_PASS",
    "PWD=/home/bob",  # the shell's working directory, not an ODBC password
    "docker run -u 1000:1000 image",  # uid:gid
    "Permission denied (publickey,password).",
    "password authentication failed for user bob",
    "ssh://git@github.com:22/org/repo",
    "Access key ID,Secret access key",  # a header alone
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


@pytest.mark.parametrize("text,want", SHAPES)
def test_issue21_secret_shapes_are_redacted(text, want):
    """Constructed: one line (or block) per shape found leaking in real logs and configs."""
    assert redact(text) == want
    assert redact(want) == want  # idempotent


@pytest.mark.parametrize("text,want", PROGRAM_FLAGS)
def test_a_secret_flag_followed_by_its_value(text, want):
    assert redact(text) == want
    assert redact(want) == want  # idempotent


@pytest.mark.parametrize("text", SHAPE_LOOK_ALIKES)
def test_issue21_look_alikes_are_kept(text):
    assert redact(text) == text


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


# A variable NAMED like a secret in an expression, or holding a setting, is no secret value (issue 20):
# `play onboard-node.yml --check` printed `sshd_password_authentication =<redacted> "no"`. Constructed.
SETTINGS_KEPT = [
    'when: (sshd_password_authentication == "no" or login_user == "root")',
    "ansible-playbook site.yml -e sshd_password_authentication=yes",
    'sshd_password_authentication: "no"',
    '{"token_required": "true", "PasswordAuthentication": "no"}',
    "when: check.security_sshd != 'pass' and password_auth != none",
]
COMPARED_SECRETS = [
    ('when: api_token == "hunter2xyz"', 'when: api_token == "<redacted>"'),
    ("when: db_password != s3cret", "when: db_password != <redacted>"),
    ("PASSWORD=no-way-in", "PASSWORD=<redacted>"),
]


@pytest.mark.parametrize("text", SETTINGS_KEPT)
def test_a_secret_name_in_an_expression_or_holding_a_setting_is_kept(text):
    assert redact(text) == text


@pytest.mark.parametrize("text,want", COMPARED_SECRETS)
def test_a_secret_compared_or_assigned_is_still_hidden(text, want):
    assert redact(text) == want


def test_the_playbooks_own_expressions_are_shown_as_written():
    """Every `when:` of the shipped playbooks reads in a report as it is written: none holds a secret."""
    def whens(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "when":
                    yield from (v if isinstance(v, list) else [v])
                else:
                    yield from whens(v)
        elif isinstance(node, list):
            for v in node:
                yield from whens(v)

    exprs = [str(w) for p in sorted(Path("playbooks").glob("*.yml")) for w in whens(yaml.safe_load(p.read_text()))]
    assert any("sshd_password_authentication ==" in e for e in exprs)
    for e in exprs:
        assert redact(e) == e, e


def test_play_check_shows_the_sshd_guard_unredacted():
    """What the user reads: `play onboard-node.yml --check` on this machine (check mode changes nothing)."""
    r = CliRunner().invoke(main, ["play", "playbooks/onboard-node.yml", "--check"])
    assert "Traceback" not in r.output, r.output
    assert "<redacted>" not in r.output
    guard = [ln for ln in r.output.splitlines() if "refuse to lock out" in ln and "when:" in ln]
    for ln in guard:  # shown when the guard skipped the task (on this machine, sshd is not a problem)
        assert 'sshd_password_authentication == "no"' in ln, ln
