"""Pastes as users paste them (encodings, quoting, prompts, wrapping, size), the extra blocks they
paste, and the signature knowledge base. Bodies are real corpus outputs; the wrappings around them
(UTF-16, Markdown quoting, a terminal's hard wrap) are applied here and say so."""

import codecs
from importlib.resources import files

import pytest

from envdoctor.diagnosis.paste import MAX_SCAN, clean, decode, for_scanning, read_paste, scanned_with_commands
from envdoctor.errors import UserError
from envdoctor.knowledge import signatures
from envdoctor.parsers import paste_blocks as pb
from envdoctor.parsers.signatures import scan_signatures
from tests.corpus import corpus_body, corpus_path

MISMATCH = "errors/nvml-driver-library-version-mismatch-unattended-upgrade.txt"


def ids(text):
    return {s.id for s in scan_signatures(for_scanning(clean(text)))}


def test_knowledge_base_loads_and_every_cause_has_a_fix():
    kb = signatures()
    assert len(kb.signatures) >= 40
    from envdoctor.diagnosis.catalog import builtin_checks_dir

    playbooks = builtin_checks_dir().parent / "playbooks"
    for cid, spec in kb.causes.items():
        assert spec.fix.summary, cid
        assert spec.fix.playbook is None or (playbooks / spec.fix.playbook).is_file(), (cid, spec.fix.playbook)
    causes = {c.cause for s in kb.signatures for c in s.causes}
    # every root-cause class is proposed by some signature (or the Xid table); _causes.<part>.yaml hold
    # the causes only checks name
    signed = {c for c, f in kb.cause_files.items() if f == "_causes.yaml"}
    assert signed - causes - {"healthy"} <= {"gpu_hardware_xid", "throttling_or_pcie"}
    assert {f for f in kb.cause_files.values()} >= {"_causes.yaml", "_causes.checks.yaml"}


def test_a_cause_defined_twice_is_refused(tmp_path, monkeypatch):
    import shutil

    import envdoctor.knowledge as knowledge

    data = tmp_path / "envdoctor" / "data"
    shutil.copytree(files("envdoctor").joinpath("data"), data)
    (data / "signatures" / "_causes.extra.yaml").write_text(
        "causes:\n  healthy:\n    title: t\n    fix: {summary: s}\n")
    monkeypatch.setattr(knowledge, "files", lambda pkg: tmp_path / pkg)
    knowledge.signatures.cache_clear()
    try:
        with pytest.raises(knowledge.KnowledgeError, match="healthy is also defined in _causes.yaml"):
            knowledge.signatures()
    finally:
        knowledge.signatures.cache_clear()


@pytest.mark.parametrize("enc,bom", [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE),
                                     ("utf-32-le", codecs.BOM_UTF32_LE), ("utf-8", codecs.BOM_UTF8)])
def test_bom_encoded_paste_is_decoded(tmp_path, enc, bom):
    body = corpus_body(MISMATCH).replace("\n", "\r\n")  # a PowerShell redirect writes CRLF too
    p = tmp_path / "paste.txt"
    p.write_bytes(bom + body.encode(enc))
    text, notes = read_paste(p)
    assert "nvml_library_mismatch" in ids(text) and not notes


def test_bomless_utf16_is_decoded():
    assert "Driver/library version mismatch" in decode(corpus_body(MISMATCH).encode("utf-16-le"))


def test_empty_and_binary_files_are_bad_input(tmp_path):
    (tmp_path / "e.txt").write_bytes(b"\n\n  \n")
    with pytest.raises(UserError, match="empty"):
        read_paste(tmp_path / "e.txt")
    (tmp_path / "b.bin").write_bytes(bytes(range(256)) * 64)
    with pytest.raises(UserError, match="binary"):
        read_paste(tmp_path / "b.bin")


def test_huge_paste_is_read_in_bounded_amount(tmp_path):
    # 6 MiB of a real kernel log line, with the real mismatch message at the very end
    p = tmp_path / "huge.txt"
    line = corpus_body("dmesg-xid/xid-13-43-sm-exception-iso.txt").splitlines()[0] + "\n"
    with p.open("w") as fh:
        for _ in range(6 * 2**20 // len(line)):
            fh.write(line)
        fh.write(corpus_body(MISMATCH))
    text, notes = read_paste(p)
    assert len(text) <= MAX_SCAN + 2 and notes and "scanned" in notes[0]
    assert "nvml_library_mismatch" in ids(text)


def test_markdown_quoting_fences_ansi_prompts_and_syslog_prefixes():
    body = corpus_body(MISMATCH)
    quoted = "> ```\n" + "".join(f"> $ {l}\n" if i == 0 else f"> {l}\n" for i, l in enumerate(body.splitlines())) + "> ```\n"
    assert ids(quoted) >= {"nvml_library_mismatch"}
    assert "nvml_library_mismatch" in ids("\x1b[31m" + body + "\x1b[0m")
    syslog = "".join(f"Mar  4 10:12:01 gpu01 kernel: {l}\n" for l in
                     corpus_body("dmesg-xid/fallen-off-bus-without-xid-open-kernel-570.txt").splitlines())
    assert "gpu_fallen_off_bus" in ids(syslog)


def test_message_wrapped_by_a_terminal_or_tracker_still_matches():
    msg = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
    assert "smi_cannot_communicate" in ids(msg.replace("with the ", "with\nthe "))  # wrapped at a blank
    hard = "\n".join(msg[i:i + 80] for i in range(0, len(msg), 80))  # hard-wrapped mid-word at 80 columns
    assert "smi_cannot_communicate" in ids(hard * 3)


def test_extra_blocks_on_real_corpus_lines():
    floyd = corpus_body("cases/torch-containers-healthy/container_without_gpus--floydhub-plain-docker-run.txt")
    assert "$ sudo docker run  -t -i floydhub/pytorch:latest-gpu-py3 ipython" in floyd
    (run,) = pb.docker_runs(floyd)  # plain docker run: no GPUs, no shared memory asked for
    assert run.gpus is False and run.shm is False
    reload = corpus_body("cases/torch-containers-healthy/nvml_unknown_after_reload--cuda114-container-daemon-reload.txt")
    assert "docker run --gpus all --rm -it nvidia/cuda:11.4.2-base-ubuntu18.04 bash" in reload
    (run,) = pb.docker_runs(reload)
    assert run.gpus is True and run.shm is False
    assert pb.in_container_text(reload)  # its "root@098b49afe624:/# nvidia-smi" prompt
    assert not pb.in_container_text(floyd)  # typed on the host


def test_extra_blocks_on_constructed_lines():
    # constructed: lines typed to the shape of each command's output (dkms status, lsmod, modinfo, pip list,
    # ls -l /usr/local, a shell export), for blocks no corpus case shows yet; not real outputs
    assert pb.secure_boot("SecureBoot enabled\n") == (True, "SecureBoot enabled")
    assert pb.dkms_status("nvidia/535.54.03, 5.15.0-76-generic, x86_64: installed\n") == [("5.15.0-76-generic", "installed")]
    assert pb.modinfo("modinfo: ERROR: Module nvidia not found.\n")[0] is False
    assert pb.lsmod_modules("nvidia_drm 61440 4\nnvidia_modeset 1142784 8 nvidia_drm\nnvidia 35270656 422 nvidia_modeset\n") == \
        ["nvidia_drm", "nvidia_modeset", "nvidia"]
    runs = pb.docker_runs("docker run --gpus all --ipc=host --ulimit memlock=-1 example/cuda:12.4-base\n")
    assert runs[0].gpus and runs[0].shm and runs[0].ulimit_memlock
    torch, nvidia = pb.packages("torch                    2.3.1+cu121\nnvidia-cudnn-cu12        8.9.2.26\npytorch                   1.12.1              py3.9_cpu_0    pytorch\n")
    assert torch[0].startswith("torch 2.3.1+cu121") and nvidia == ["nvidia-cudnn-cu12 8.9.2.26"]
    assert pb.ld_library_path("export LD_LIBRARY_PATH=/usr/local/cuda-12.1/lib64:$LD_LIBRARY_PATH\n")[0] == "/usr/local/cuda-12.1/lib64"
    assert pb.usr_local_cuda("lrwxrwxrwx  1 root root   21 Jan 10 10:00 cuda -> /usr/local/cuda-12.1\n"
                             "drwxr-xr-x 17 root root 4096 Jan 10 10:00 cuda-11.8\n") == ["cuda -> /usr/local/cuda-12.1", "cuda-11.8"]


def test_patterns_are_message_families_not_single_cases():
    # a cap on pattern count per signature keeps the knowledge a family description
    kb = signatures()
    assert all(len(s.patterns) <= 25 for s in kb.signatures)
    for sid, pats in kb.compiled.items():  # compiled lazily in use: `p.rx` raises if one does not compile
        for p in pats:
            assert p.rx.search("") is None, (sid, p.source)  # one matching empty text would fire on every paste
            assert p.rx.search("ok\n" * 50) is None, (sid, p.source)


def test_fix_commands_take_the_wheel_index_from_torch_releases():
    from importlib.resources import files

    from envdoctor.knowledge import wheel_index

    causes = signatures().causes
    assert f"--index-url {wheel_index('cu126')}" in causes["torch_cpu_only_build"].fix.commands[0]
    assert f"--index-url {wheel_index('cu118')}" in causes["driver_too_old"].fix.commands[1]
    assert f"--index-url {wheel_index('cuXYZ')})" in causes["torch_cpu_only_build"].fix.summary
    shown = [t for c in causes.values() for t in [c.fix.summary, *c.fix.commands]]
    assert not [t for t in shown if "{torch_index" in t]
    host = wheel_index("x").split("/")[2]  # the index's host is written only in torch_releases.yaml
    assert host not in files("envdoctor").joinpath("data", "signatures", "_causes.yaml").read_text()


def test_evidence_of_a_one_line_json_is_the_matched_message():
    import json

    # constructed: the probe's torch section is one JSON line; the warning sits far from its start
    w = "UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found version 11040)."
    text = json.dumps({"version": "2.5.1+cu124", "arch_list": ["sm_50"] * 60, "warnings": [w]})
    (seen,) = [s for s in scan_signatures(text) if s.id == "torch_driver_too_old"]
    assert seen.line == w


def test_a_command_typed_at_a_prompt_is_not_an_error_message():
    """What the user ran is not what the software answered: a failure message quoted in a typed command
    line is not seen, the same words in the output are; context (a docker run) is read off the command."""
    typed = ("❯ grep -c 'Failed to initialize NVML: Driver/library version mismatch' ~/notes.txt\n0\n"
             "$ docker run --rm --gpus all ubuntu nvidia-smi -L\nGPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-1)\n")
    seen = {s.id for s in scan_signatures(*scanned_with_commands(clean(typed)))}
    assert "nvml_library_mismatch" not in seen and "container_no_gpu_inside" in seen
    answered = typed + "Failed to initialize NVML: Driver/library version mismatch\n"
    assert "nvml_library_mismatch" in {s.id for s in scan_signatures(*scanned_with_commands(clean(answered)))}


def test_a_collected_cases_header_is_not_evidence(tmp_path):
    """A corpus case diagnosed as a user would (check --from the file): its header holds the cause the thread
    concluded; only the verbatim paste below it is read."""
    rel = "cases/r2-torch-python/torch_cpu_only_build--pytorch-69202-conda-190-cudatoolkit113-cpu0.txt"
    p = tmp_path / "case.txt"
    p.write_text(corpus_path(rel).read_text())
    text, notes = read_paste(p)
    assert text == clean(corpus_body(rel)) and "# cause:" not in text
    assert notes == ["left out the 5 header lines of a collected case (# source/command/cause/class/note: who "
                     "collected it and what the thread concluded, not evidence)"]
    # a root prompt that happens to start with '# ' is no header
    p.write_text("# nvidia-smi\nNVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n")
    text, notes = read_paste(p)
    assert text.startswith("# nvidia-smi\n") and notes == []
