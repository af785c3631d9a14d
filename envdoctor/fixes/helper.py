# envdoctor fix helper: runs on the target with its own python3 (stdlib only, Python >= 3.6), started as
# `python3 -c <this source>`; reads one JSON request {"ops": [...]} on stdin and prints one JSON reply
# {"results": [...]}, one result per op, in order. Ops run one after another; after a failed op the rest
# are not run (their result is {"error": "not run: an earlier step failed"}).
#
# Writes are atomic: the new content goes to a temporary file in the same directory, is fsynced, gets
# the owner and mode, then is renamed over the old file (and the directory fsynced). The previous content
# is kept as <file>.envdoctor-backup-<timestamp> (a hard link to the old inode, so it costs no copy).
# An interrupted write leaves the old file or the new one, never half of one.
import base64
import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time

PAUSE_BEFORE_RENAME = 0.0  # fault injection for tests: --test-pause-before-rename SECS


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
            with open(path, "rb") as f:
                data = f.read()
            out["content_b64"] = base64.b64encode(data).decode()
            out["sha256"] = _sha(data)
    else:
        out["type"] = "other"
    return out


def op_which(req):
    return {"paths": {n: shutil.which(n) for n in req["names"]}}


def op_exec(req):
    argv = req.get("argv") or ["sh", "-c", req["shell"]]
    data = req.get("stdin")
    try:
        p = subprocess.run(argv, input=(data or "").encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=float(req.get("timeout", 600)), cwd=req.get("chdir") or None)
    except FileNotFoundError:
        return {"rc": None, "not_found": True, "stdout": "", "stderr": "%s: command not found" % argv[0]}
    except subprocess.TimeoutExpired:
        return {"rc": None, "timed_out": True, "stdout": "", "stderr": "timed out after %ss" % req.get("timeout")}
    return {"rc": p.returncode, "stdout": p.stdout.decode("utf-8", "replace")[-65536:],
            "stderr": p.stderr.decode("utf-8", "replace")[-65536:]}


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


def _backup(path):
    """Keep the current content under a new name. A hard link keeps the old inode, which the rename
    below leaves alone; if the filesystem refuses links, copy (the copy is itself atomic)."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    dest = "%s.envdoctor-backup-%s" % (path, stamp)
    n = 1
    while os.path.lexists(dest):
        dest = "%s.envdoctor-backup-%s.%d" % (path, stamp, n)
        n += 1
    try:
        os.link(path, dest)
    except OSError:
        tmp = dest + ".tmp"
        shutil.copy2(path, tmp)
        os.rename(tmp, dest)
    return dest


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
        backup = _backup(path) if (st is not None and req.get("backup", True)) else None
        if PAUSE_BEFORE_RENAME:
            sys.stderr.write("paused before rename: %s\n" % tmp)
            sys.stderr.flush()
            time.sleep(PAUSE_BEFORE_RENAME)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
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
        backup = _backup(path)
    os.rename(tmp, path)  # rename(2) replaces a link atomically; there is never a moment without one
    _fsync_dir(d)
    return {"backup": backup}


OPS = {"stat": op_stat, "which": op_which, "exec": op_exec, "write": op_write, "attrs": op_attrs,
       "symlink": op_symlink}


def main(argv):
    global PAUSE_BEFORE_RENAME
    if "--test-pause-before-rename" in argv:
        PAUSE_BEFORE_RENAME = float(argv[argv.index("--test-pause-before-rename") + 1])
    req = json.loads(sys.stdin.read())
    results, failed = [], False
    for op in req.get("ops", []):
        if failed:
            results.append({"error": "not run: an earlier step failed"})
            continue
        fn = OPS.get(op.get("op"))
        try:
            res = fn(op) if fn else {"error": "unknown op %r" % op.get("op")}
        except (OSError, KeyError, ValueError) as e:
            res = {"error": "%s: %s" % (type(e).__name__, getattr(e, "strerror", None) or e)}
        if "error" in res and op.get("op") not in ("stat",):
            failed = True
        results.append(res)
    sys.stdout.write(json.dumps({"results": results, "uid": os.getuid()}))


if __name__ == "__main__":
    main(sys.argv[1:])
