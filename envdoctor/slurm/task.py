"""What each task of an envdoctor srun step runs (stdlib only; sent as `python -c`, nothing installed on
the nodes). srun gives every task the same stdin (--input=all): the script to run, the probe or the
proof. This runs it with this interpreter and the arguments after the time limit, then prints what it
printed as frames: `@envdoctor-frame NODE SEQ/TOTAL BASE64`, short lines that stay whole when srun
interleaves the output of many tasks. `{NODE_RANK}` in an argument becomes this node's rank from
$ENVDOCTOR_NODE_RANKS (a JSON object of node name -> rank: the node rank of a multi-node proof).

    python -c "$(this file)" LIMIT_SECONDS [SCRIPT ARGS...]
"""
import base64
import json
import os
import socket
import subprocess
import sys
import time
import zlib

CHUNK = 800


def main():
    limit = float(sys.argv[1])
    node = os.environ.get("SLURMD_NODENAME") or socket.gethostname().split(".")[0]
    rank = str(json.loads(os.environ.get("ENVDOCTOR_NODE_RANKS") or "{}").get(node, ""))
    args = [a.replace("{NODE_RANK}", rank) for a in sys.argv[2:]]
    script = sys.stdin.buffer.read()
    t0 = time.monotonic()
    doc = {"node": node, "rc": None, "stdout": "", "stderr": "", "timed_out": False}
    try:
        p = subprocess.run([sys.executable, "-"] + args, input=script, capture_output=True, timeout=limit)
        doc.update(rc=p.returncode, stdout=p.stdout.decode("utf-8", "replace"), stderr=p.stderr.decode("utf-8", "replace"))
    except subprocess.TimeoutExpired as e:
        doc.update(timed_out=True, stdout=(e.stdout or b"").decode("utf-8", "replace"),
                   stderr=(e.stderr or b"").decode("utf-8", "replace"))
    except OSError as e:
        doc.update(rc=127, stderr="cannot run %s: %s" % (sys.executable, e))
    doc["secs"] = round(time.monotonic() - t0, 3)
    blob = base64.b64encode(zlib.compress(json.dumps(doc).encode(), 6)).decode()
    chunks = [blob[i:i + CHUNK] for i in range(0, len(blob), CHUNK)] or [""]
    out = sys.stdout
    for i, c in enumerate(chunks):
        out.write("@envdoctor-frame %s %d/%d %s\n" % (node, i + 1, len(chunks), c))
    out.flush()


main()
