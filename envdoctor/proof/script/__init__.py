"""envdoctor proof-run: run by the target's own python as `python3 - [options]` with this file on stdin (its
VOCABULARY line filled in by the controller), preceded by one line `PROOF_SOURCE = '<that text>'`. It trains
a torchvision ResNet with that environment's torch on synthetic data and reports what it saw.
stdout carries JSON lines only: progress events while it runs, then exactly one {"event": "result"} line.
Self-contained on purpose (nothing of envdoctor is installed on the target): stdlib + torch + torchvision,
and pynvml when the target has it, each imported inside the function that needs it.

Process layout. This parent never imports torch, so it can never hold CUDA state. It writes itself into a
private temporary directory (mkdtemp: mode 0700), re-executes itself from that file, counts the CUDA devices
in a child interpreter, and starts one training worker per device with the *spawn* start method: each
worker is a fresh interpreter that imports this file, never a fork of a process that touched CUDA.
(torch 2.14, torch/backends/cudnn/__init__.py `_init`: cudnn.version() calls torch.cuda.is_available()
and then get_device_capability() per device, which reaches torch.cuda._lazy_init(); after that every
fork's CUDA call raises "Cannot re-initialize CUDA in forked subprocess" (torch/cuda/__init__.py
`_lazy_init`, `_is_in_bad_fork`). So the cuDNN version is read inside a worker.)
torchrun (torch.distributed.run) was not used as the launcher: the controller needs one process that
samples NVML, streams every rank's progress, keeps each phase's partial result and ends the whole group the
moment one rank fails or the budget is spent; the ranks meet through a TCPStore instead (see rendezvous()).

Written as the parts below (envdoctor/proof/script/), one role each; envdoctor/payload.py assembles them into
this one file, in this order (a part imports only the parts before it). One file matters here: the spawned
workers import it, and pickle finds worker_entry and SyntheticImages in it by name."""

PARTS = (
    "contract",  # what the controller and the script agree on: budget, grace, collective phases
    "clock_reasons",  # NVML's clock-event reasons, decoded with the controller's table (the vocabulary)
    "values",  # reading values without raising
    "messages",  # worker -> parent (a queue) and parent -> controller (stdout) as JSON
    "options",  # the command line and its device-dependent defaults
    "task",  # the synthetic task: classes, seeds, the DataLoader's images
    "sampler",  # the GPU sampler (NVML or nvidia-smi) and which rows belong to which worker
    "preflight",  # before any worker: CUDA's device count, the ordinals, torch.compile's toolchain
    "batch_size",  # the batch from free memory, allocation failures, the time budget
    "ddp",  # rendezvous, bounded collectives, agreed values, all-reduce bandwidth
    "accept_measure",  # node acceptance: matmul, memory copy and pinned copies within a share of the budget
    "accept_worker",  # node acceptance: one worker's parts and the all_reduce sweep across the ranks
    "dataloader",  # the DataLoader test
    "worker",  # one training process
    "supervisor",  # the parent: sampler, workers, the one result line, its watchdog
    "launch",  # the entry: re-executed from a private file, then the parent
)
