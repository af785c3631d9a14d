"""envdoctor probe: stdlib only, Python >= 3.6. Run as `python3 - [--no-torch]` with this file on stdin.
Prints one JSON document: {"probe_version": 1, "sections": {name: {cmd, rc, stdout, stderr, secs, error}}}
(and "vocabulary_missing" when run without the vocabulary the controller writes in: see VOCABULARY).
Every command runs in its own thread with its own timeout; a missing tool is "not-found", never a crash.
Written as the parts below (envdoctor/probe/script/), one role each; envdoctor/payload.py assembles them into
this one file, in this order (a part imports only the parts before it)."""

PARTS = (
    "redaction",  # secrets never leave the target: secret names and shapes (the vocabulary), command lines
    "section",  # what a piece of evidence becomes; a file read, a text
    "process_group",  # one command in its own process group, killed whole on timeout (the fix helper's too)
    "command",  # running one command as a section: not-found, timeout, trimmed output
    "child_scripts",  # torch, the CUDA driver API and NVML, each inspected in a child interpreter
    "driver",  # the NVIDIA driver, its kernel module and CUDA on the host
    "host",  # environment, containers, WSL, cgroups, tools
    "security_proc",  # security: processes and listening sockets from /proc
    "security_jupyter",  # security: Jupyter servers and whether they answer without a token
    "security_access",  # security: sshd, logins, the docker group, privileged containers
    "main",  # every section in its own thread, one JSON document out
)
