"""Security: sshd's effective configuration (`sshd -T`) on a reachable address."""

from envdoctor.diagnosis.catalog import check, fail, passed, skip, unknown, warn
from envdoctor.models import Fix
from envdoctor.parsers.security import passwords_accepted, sshd_reachable

FIX = Fix(summary="Keys only: a drop-in under /etc/ssh/sshd_config.d/ with PermitRootLogin prohibit-password, "
                  "PasswordAuthentication no, KbdInteractiveAuthentication no and PermitEmptyPasswords no, checked "
                  "with `sshd -t` before sshd is reloaded. The playbook refuses when the user envdoctor is logged in "
                  "as has no authorized key (it would be locked out).",
          commands=["ssh-copy-id USER@THIS_HOST   # first, for every user who logs in with a password",
                    "envdoctor play sshd-hardening.yml THIS_HOST --check --diff"])


# The playbook is named in the fix only for a running sshd (as onboard-node.yml applies it): an sshd that
# is installed but not running is left to `envdoctor play sshd-hardening.yml`.
PLAYBOOK = "sshd-hardening.yml"


@check("security_sshd", "sshd refuses root and password logins on reachable addresses", order=910)
def security_sshd(facts):
    """sshd's effective configuration, as `sshd -T` computes it from sshd_config, its Include'd drop-ins
    and the defaults (a grep of the file misses all three; the first value obtained wins).

    Verdict on an sshd listening beyond loopback: fail when root may log in with a password
    (PermitRootLogin yes with password authentication) or empty passwords are accepted
    (PermitEmptyPasswords yes); warn when passwords are accepted (PasswordAuthentication yes, or
    keyboard-interactive through PAM) or PermitRootLogin is yes with keys only; pass otherwise, and when
    sshd listens on loopback only; skip when sshd is not installed. An sshd that is installed but not
    running is at most a warning (its configuration applies when it starts).
    Evidence: `sshd -T` (needs root: it reads the host keys), sshd processes, /proc/net/tcp{,6}.
    Fix: sshd-hardening.yml (a drop-in, validated with `sshd -t`, refused when it would lock you out)."""
    sec = facts.security
    if sec.sshd is None:
        if sec.sshd_error == "not-found":
            return skip("sshd is not installed")
        return unknown("sshd's effective configuration not known" + (f": {sec.sshd_error}" if sec.sshd_error else ""),
                       missing=["sshd -T (as root: --become)"])
    cfg = sec.sshd
    s = cfg.settings
    reach = sshd_reachable(cfg)
    listen = ", ".join(cfg.listen_addresses) or "?"
    ev = [f"sshd -T: listenaddress {listen}"] + [f"sshd -T: {k} {s[k]}" for k in (
        "permitrootlogin", "passwordauthentication", "kbdinteractiveauthentication", "usepam", "permitemptypasswords")
        if k in s]
    if not reach:
        return passed(f"sshd listens on loopback only ({listen})", ev)
    pw = passwords_accepted(cfg)
    problems_fail, problems_warn = [], []
    if s.get("permitemptypasswords") == "yes" and pw:
        problems_fail.append("PermitEmptyPasswords yes: an account without a password logs in with none")
    if s.get("permitrootlogin") == "yes" and pw:
        problems_fail.append("PermitRootLogin yes with passwords: root's password can be guessed from the network")
    elif s.get("permitrootlogin") == "yes":
        problems_warn.append("PermitRootLogin yes (keys only today; prohibit-password says so for good)")
    if pw:
        problems_warn.append("passwords accepted (" + ", ".join(pw) + ")")
    if not problems_fail and not problems_warn:
        return passed(f"sshd on {listen}: keys only, no root password login", ev)
    problems = problems_fail + problems_warn
    where = f"sshd on {', '.join(reach)}"
    if sec.sshd_running is False:
        return warn(f"{where} (installed, not running now): " + "; ".join(problems), ev,
                    cause="sshd_config (or a drop-in) allows these; they apply when sshd starts",
                    fix=FIX.model_copy(update={"manual": True}))
    if problems_fail:
        return fail(f"{where}: " + "; ".join(problems), ev,
                    cause="sshd_config or a drop-in under /etc/ssh/sshd_config.d/ sets these (the first value wins)",
                    fix=FIX.model_copy(update={"playbook": PLAYBOOK}))
    return warn(f"{where}: " + "; ".join(problems), ev,
                cause="sshd_config or a drop-in under /etc/ssh/sshd_config.d/ sets these (the first value wins)",
                fix=FIX.model_copy(update={"playbook": PLAYBOOK}))
