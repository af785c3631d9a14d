"""What the proof script and the controller that sends and judges it agree on: the result's version, the time
budget and its grace, and the names of the phases in which a worker waits for the other ranks. The controller
imports this module (envdoctor/proof/stage.py, verdict.py); the script carries it as its first part."""

PROOF_VERSION = 2
RESERVE_S = 2.0  # budget the workers keep back for sending their result
GRACE_S = 5.0  # stated grace: the result line comes at most this long after --time-budget, counted from the
# process's own start (a loaded host needs it: killing the workers, writing the line, the process ending)
HARD_STOP_S = 3.0  # after --time-budget the parent's watchdog writes the result from what it has and ends the
# process, whatever its main thread is blocked in; the rest of GRACE_S is for the line and the exit
DEFAULT_BUDGET_S = 60.0  # --time-budget
ACCEPT_BUDGET_S = 90.0  # --time-budget of a node acceptance run (--accept): each part gets its share
ACCEPT_QUICK_BUDGET_S = 20.0  # the same with --quick: a subset of the parts, for health checks
COMPILE_BUDGET_S = 300.0  # the default --time-budget with --compile (a cold compile of ResNet-50 per process)
COLLECTIVE_WAIT_S = 30.0  # the longest one collective may wait for the other ranks (--collective-wait): a 256 MiB
# all-reduce and NCCL's communicator set-up take seconds, so a longer wait is a hang between GPUs, not slowness
# What the verdict needs of a run, so the CPU run plans its steps to give it (script/batch_size.py):
MIN_LOSSES = 10  # fewer steps than this cannot show a trend through the noise of small batches
MIN_TIMED_STEPS = 5  # fewer timed steps than this are too few to state a speed (cuDNN autotuning, clock ramp)
# The phases in which a worker waits in a collective for the other ranks (each announced before it starts).
COLLECTIVE_PHASES = ("all-reduce bandwidth", "agreeing on the batch size", "DDP broadcast", "agreeing on the step count",
                     "agreeing on the DataLoader step count")
