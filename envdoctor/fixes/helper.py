# envdoctor fix helper: runs on the target with its own python3 (stdlib only, Python >= 3.6), started as
# `python3 -c <this source>`, the probe's process_group.py written in place of its import (fixes/remote.py);
# reads one JSON request {"ops": [...]} on stdin and prints one JSON reply
# {"results": [...]}, one result per op, in order. Ops run one after another; after a failed op the rest
# are not run (their result is {"error": "not run: an earlier step failed"}).
#
# Writes are atomic: the new content goes to a temporary file in the same directory, is fsynced, gets
# the owner and mode, then is renamed over the old file (and the directory fsynced). The previous content
# is kept as <file>.envdoctor-backup-<timestamp> (a hard link to the old inode, so it costs no copy).
# An interrupted write leaves the old file or the new one, never half of one.
#
# State of its own on the target, in STATE_DIR (root: /var/lib/envdoctor; else ~/.local/state/envdoctor):
# - play.lock: one play at a time per host. A request {"lock": TOKEN} runs only while that token holds
#   the lock, and under an flock of play.lock.guard for its whole duration, so "unchanged since read"
#   and the rename that follows cannot interleave with another run's. The lock names the process that
#   stands for the run's connection (its sshd, or the local controller): once that process is gone (a
#   killed run), the lock is free; without /proc, a lock not refreshed for LEASE seconds is.
# - pending-handlers.json: handlers notified by a change and not yet run (recorded before the change
#   is written, removed once the handler has run), so an interrupted or failed run is finished later.
import base64
import errno
import fcntl
import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import sys
import tempfile
import time

from envdoctor.probe.script.process_group import run_command  # written in when sent (fixes/remote.py)

PAUSE_BEFORE_RENAME = 0.0  # fault injection for tests: --test-pause-before-rename SECS
LEASE = 900.0


def _proc_stat(pid):
    """(command name, parent pid, start time) of a process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except (OSError, ValueError):
        return None
    rest = data[data.rindex(")") + 2:].split()
    return data[data.index("(") + 1:data.rindex(")")], int(rest[1]), rest[19]


def _connection_process():
    """The process that lives as long as this run's connection: the nearest sshd ancestor (one per
    SSH connection; each call of the run is a new session below it), else our parent."""
    pid, hops = os.getppid(), 0
    while pid > 1 and hops < 16:
        st = _proc_stat(pid)
        if st is None:
            break
        if st[0].startswith("sshd"):
            return pid, st[2]
        pid, hops = st[1], hops + 1
    st = _proc_stat(os.getppid())
    return os.getppid(), (st[2] if st else None)


def _holder_gone(cur):
    pid, start = cur.get("pid"), cur.get("start")
    if not pid or not start:
        return False
    st = _proc_stat(int(pid))
    return st is None or st[2] != start


def state_dir(create=True):
    d = "/var/lib/envdoctor" if os.getuid() == 0 else os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "envdoctor")
    if not create:
        return d  # reading: never creates anything (check mode changes nothing)
    os.makedirs(d, mode=0o700, exist_ok=True)
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise OSError(errno.EPERM, "%s is not a private directory of uid %d; not using it" % (d, os.getuid()))
    return d


def _write_json(path, doc):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def _read_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default
    except ValueError:
        return default  # a torn or foreign file: as if absent (ours are written by rename)


def _guard(block):
    """The flock that serialises everything done under the play lock (held until the process ends)."""
    fd = os.open(os.path.join(state_dir(), "play.lock.guard"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        return None
    return fd


def op_lock(req):
    """Take this host's play lock for `token`, waiting up to `wait` seconds for another run to end."""
    path = os.path.join(state_dir(), "play.lock")
    deadline = time.time() + float(req.get("wait", 90))
    while True:
        fd = _guard(block=False)
        if fd is not None:
            cur = _read_json(path, None)
            try:
                age = time.time() - os.stat(path).st_mtime
            except OSError:
                age = None
            if cur is None or cur.get("token") == req["token"] or age is None or age > LEASE or _holder_gone(cur):
                pid, start = _connection_process()
                _write_json(path, {"token": req["token"], "holder": req.get("holder", "?"), "since": time.time(),
                                   "pid": pid, "start": start})
                os.close(fd)
                return {"locked": True, "took_over": bool(cur and cur.get("token") != req["token"])}
            os.close(fd)
        else:
            cur = _read_json(path, None)
        if time.time() >= deadline:
            who = (cur or {}).get("holder", "another run")
            since = time.strftime("%H:%M:%S", time.localtime((cur or {}).get("since", time.time())))
            return {"error": "another envdoctor run (%s, since %s) is changing this host; nothing was done: "
                             "run again when it has finished" % (who, since)}
        time.sleep(0.2)


def op_unlock(req):
    path = os.path.join(state_dir(), "play.lock")
    cur = _read_json(path, None)
    if cur and cur.get("token") == req["token"]:
        os.unlink(path)
    return {}


def hold_lock(token):
    """Called before a request's ops: the guard flock, and the lock still ours (refreshed)."""
    fd = _guard(block=True)
    path = os.path.join(state_dir(), "play.lock")
    cur = _read_json(path, None)
    if not cur or cur.get("token") != token:
        os.close(fd)
        return None
    os.utime(path)
    return fd


def op_pending(req):
    """Handlers notified and not yet run: `add` records (by name), `remove` names; returns them all."""
    if not (req.get("add") or req.get("remove")):
        path = os.path.join(state_dir(create=False), "pending-handlers.json")
        try:
            st = os.lstat(path)
        except OSError:
            return {"pending": {}}
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
            return {"pending": {}}  # not ours: never run what someone else wrote there
        return {"pending": _read_json(path, {})}
    path = os.path.join(state_dir(), "pending-handlers.json")
    cur = _read_json(path, {})
    for rec in req.get("add") or []:
        cur.setdefault(rec["name"], dict(rec, since=time.time()))
    for name in req.get("remove") or []:
        cur.pop(name, None)
    _write_json(path, cur)
    return {"pending": cur}


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _owner_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def op_stat(req):
    path = req["path"]
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    except OSError as e:
        return {"error": "cannot stat %s: %s" % (path, e.strerror)}
    out = {"exists": True, "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
           "owner": _owner_name(st.st_uid), "group": _group_name(st.st_gid), "size": st.st_size}
    if stat.S_ISLNK(st.st_mode):
        out["type"] = "link"
        out["link_target"] = os.readlink(path)
        out["resolves_to"] = os.path.realpath(path)
        out["target_exists"] = os.path.exists(path)
    elif stat.S_ISDIR(st.st_mode):
        out["type"] = "dir"
    elif stat.S_ISREG(st.st_mode):
        out["type"] = "file"
        if req.get("read"):
            limit = int(req.get("max_bytes", 16 * 1024 * 1024))
            if st.st_size > limit:
                return {"error": "%s is larger than %d bytes; not reading it" % (path, limit)}
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                return {"error": "cannot read %s: %s" % (path, e.strerror or e)}
            out["content_b64"] = base64.b64encode(data).decode()
            out["sha256"] = _sha(data)
    else:
        out["type"] = "other"
    return out


def op_which(req):
    return {"paths": {n: shutil.which(n) for n in req["names"]}}


def op_exec(req):
    """A command (argv, or a shell line); on timeout its whole process group is killed (run_command)."""
    argv = req.get("argv") or ["sh", "-c", req["shell"]]
    try:
        rc, out, err, timed_out = run_command(argv, float(req.get("timeout", 600)),
                                              stdin=(req.get("stdin") or "").encode(), cwd=req.get("chdir") or None)
    except FileNotFoundError:
        return {"rc": None, "not_found": True, "stdout": "", "stderr": "%s: command not found" % argv[0]}
    if timed_out:
        return {"rc": None, "timed_out": True, "stdout": "", "stderr": "timed out after %ss" % req.get("timeout")}
    return {"rc": rc, "stdout": out.decode("utf-8", "replace")[-65536:], "stderr": err.decode("utf-8", "replace")[-65536:]}


def _ids(req, st):
    uid = st.st_uid if st else os.getuid()
    gid = st.st_gid if st else os.getgid()
    if req.get("owner") is not None:
        o = str(req["owner"])
        uid = int(o) if o.isdigit() else pwd.getpwnam(o).pw_uid
    if req.get("group") is not None:
        g = str(req["group"])
        gid = int(g) if g.isdigit() else grp.getgrnam(g).gr_gid
    return uid, gid


def _fsync_dir(d):
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_backup(path):
    """The newest backup of `path` when it already holds the current content (a retry after a failed
    write must not leave one more copy each time), else None."""
    d, base = os.path.dirname(path) or ".", os.path.basename(path)
    prefix = base + ".envdoctor-backup-"
    names = sorted((n for n in os.listdir(d) if n.startswith(prefix) and not n.endswith(".tmp")),
                   key=lambda n: os.lstat(os.path.join(d, n)).st_mtime)
    if not names:
        return None
    newest = os.path.join(d, names[-1])
    try:
        if os.path.samefile(newest, path):
            return newest
        if os.path.getsize(newest) != os.path.getsize(path):
            return None
        with open(newest, "rb") as a, open(path, "rb") as b:
            return newest if _sha(a.read()) == _sha(b.read()) else None
    except OSError:
        return None


def _backup(path):
    """Keep the current content under a new name; returns (name, made now). A hard link keeps the old
    inode, which the rename below leaves alone; if the filesystem refuses links, copy (the copy is
    itself atomic)."""
    same = _same_backup(path)
    if same:
        return same, False
    stamp = time.strftime("%Y%m%dT%H%M%S")
    dest = "%s.envdoctor-backup-%s" % (path, stamp)
    n = 1
    while os.path.lexists(dest):
        dest = "%s.envdoctor-backup-%s.%d" % (path, stamp, n)
        n += 1
    try:
        os.link(path, dest)
    except OSError:
        _copy_into_place(path, dest)
    return dest, True


def _copy_into_place(path, dest):
    """Copy through a new file of our own (O_EXCL, a random name), then rename it to `dest`: in a
    world-writable directory a symlink planted at a name we could be predicted to use is never followed."""
    d, base = os.path.dirname(dest) or ".", os.path.basename(path)
    fd, tmp = tempfile.mkstemp(prefix=".%s.envdoctor-tmp-%d-" % (base, os.getpid()), dir=d)
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        shutil.copystat(path, tmp)
        os.rename(tmp, dest)  # rename(2) replaces a name, it never writes through a link there
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _remove_stale_temps(d, base):
    """Temp files of earlier writes that were killed before their rename (their pid is gone)."""
    prefix = ".%s.envdoctor-tmp-" % base
    for name in os.listdir(d):
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists("/proc/%s" % pid):
            try:
                os.unlink(os.path.join(d, name))
            except OSError:
                pass


def op_write(req):
    path = req["path"]
    data = base64.b64decode(req["content_b64"])
    d = os.path.dirname(path) or "."
    if req.get("create_parents") and not os.path.isdir(d):
        os.makedirs(d, mode=0o755)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    # Refuse to write over a file that changed since the plan was made (another admin, another run).
    expect = req.get("expect_sha256", "any")
    if expect != "any":
        cur = None
        if st is not None:
            with open(path, "rb") as f:
                cur = _sha(f.read())
        if cur != expect:
            return {"error": "%s changed since it was read; nothing written (run again)" % path}
    mode = req.get("mode")
    if mode is None:
        mode = stat.S_IMODE(st.st_mode) if st else 0o644
    uid, gid = _ids(req, st)
    base = os.path.basename(path)
    _remove_stale_temps(d, base)
    fd, tmp = tempfile.mkstemp(prefix=".%s.envdoctor-tmp-%d-" % (base, os.getpid()), dir=d)
    backup, made = None, False
    try:
        with os.fdopen(fd, "wb") as f:
            view = memoryview(data)
            for i in range(0, len(data), 1 << 20):
                f.write(view[i:i + (1 << 20)])
            f.flush()
            os.fchmod(f.fileno(), mode)
            if os.getuid() == 0 or req.get("owner") is not None or req.get("group") is not None:
                os.fchown(f.fileno(), uid, gid)
            os.fsync(f.fileno())
        if st is not None and req.get("backup", True):
            backup, made = _backup(path)
        if PAUSE_BEFORE_RENAME:
            sys.stderr.write("paused before rename: %s\n" % tmp)
            sys.stderr.flush()
            time.sleep(PAUSE_BEFORE_RENAME)
        os.rename(tmp, path)
    except BaseException:
        for p in [tmp] + ([backup] if made else []):  # the file is unchanged: its new backup is not needed
            try:
                os.unlink(p)
            except OSError:
                pass
        raise
    _fsync_dir(d)
    return {"written": len(data), "backup": backup, "sha256": _sha(data)}


def op_attrs(req):
    """Only owner/mode differ: change them in place (content untouched, so no backup)."""
    path = req["path"]
    st = os.stat(path)
    if req.get("mode") is not None:
        os.chmod(path, req["mode"])
    if req.get("owner") is not None or req.get("group") is not None:
        uid, gid = _ids(req, st)
        os.chown(path, uid, gid)
    return {}


def op_symlink(req):
    path, target = req["path"], req["target"]
    d = os.path.dirname(path) or "."
    if os.path.lexists(path) and not os.path.islink(path):
        if not req.get("force"):
            return {"error": "%s exists and is not a symlink; not replacing it (force: true would)" % path}
        if os.path.isdir(path):
            return {"error": "%s is a directory; not replacing it with a link" % path}
    tmp = os.path.join(d, ".%s.envdoctor-tmp-%d" % (os.path.basename(path), os.getpid()))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    backup = None
    if os.path.lexists(path) and not os.path.islink(path):
        backup = _backup(path)[0]
    os.rename(tmp, path)  # rename(2) replaces a link atomically; there is never a moment without one
    _fsync_dir(d)
    return {"backup": backup}


OPS = {"stat": op_stat, "which": op_which, "exec": op_exec, "write": op_write, "attrs": op_attrs,
       "symlink": op_symlink, "lock": op_lock, "unlock": op_unlock, "pending": op_pending}


def main(argv):
    global PAUSE_BEFORE_RENAME
    if "--test-pause-before-rename" in argv:
        PAUSE_BEFORE_RENAME = float(argv[argv.index("--test-pause-before-rename") + 1])
    req = json.loads(sys.stdin.read())
    results, failed = [], False
    if req.get("lock"):
        try:
            held = hold_lock(req["lock"])
        except OSError as e:
            held, why = None, "%s: %s" % (getattr(e, "filename", None) or "state", e.strerror or e)
        else:
            why = "this run's lock on the host was taken over (its connection seemed gone): nothing done"
        if held is None:
            results = [{"error": why} for _ in req.get("ops", [])]
            sys.stdout.write(json.dumps({"results": results, "uid": os.getuid()}))
            return
    for op in req.get("ops", []):
        if failed:
            results.append({"error": "not run: an earlier step failed"})
            continue
        fn = OPS.get(op.get("op"))
        try:
            res = fn(op) if fn else {"error": "unknown op %r" % op.get("op")}
        except OSError as e:
            # Name the path: "Permission denied" alone does not say which file.
            where = op.get("path") or e.filename or op.get("op")
            res = {"error": "%s: %s" % (where, e.strerror or e)}
        except (KeyError, ValueError) as e:
            res = {"error": "%s: %s" % (type(e).__name__, e)}
        if "error" in res and op.get("op") not in ("stat",):
            failed = True
        if op.get("stop_on_failure") and res.get("rc") != 0:
            failed = True  # a command that failed: what follows it (forgetting a pending handler) must not run
        results.append(res)
    sys.stdout.write(json.dumps({"results": results, "uid": os.getuid()}))


if __name__ == "__main__":
    main(sys.argv[1:])
