"""The proof script's command line and the defaults that depend on the device."""

import argparse

from .contract import ACCEPT_BUDGET_S, ACCEPT_QUICK_BUDGET_S, COLLECTIVE_WAIT_S, COMPILE_BUDGET_S, DEFAULT_BUDGET_S


def parse_args(argv):
    p = argparse.ArgumentParser(prog="envdoctor-proof")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--arch", default=None, help="torchvision model (resnet50 on cuda, resnet18 on cpu)")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="per process; default from free GPU memory")
    p.add_argument("--steps", type=int, default=None, help="timed steps (at most; the budget may cut them)")
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--time-budget", type=float, default=None, help="seconds, start to result (60; 300 with --compile)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto",
                   help="auto: fp16 with a GradScaler on cuda (what the published figures used), fp32 on cpu")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--ddp", action="store_true", help="one DDP job over all GPUs (NCCL; gloo on cpu)")
    p.add_argument("--procs", type=int, default=None, help="processes on --device cpu (default 1)")
    p.add_argument("--gpus", default=None, help="comma-separated GPU indices (default: all)")
    p.add_argument("--dataloader", action="store_true", help="also feed the step from a DataLoader")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers per process")
    p.add_argument("--prefetch-factor", type=int, default=2, help="DataLoader prefetch_factor (torch's default 2)")
    p.add_argument("--persistent-workers", action="store_true")
    p.add_argument("--no-pin-memory", action="store_true")
    p.add_argument("--transform-cost", type=int, default=0,
                   help="extra passes of a blur per DataLoader image: a heavier augmentation")
    p.add_argument("--accept", action="store_true", help="node acceptance: matmul, memory and copy bandwidth, "
                   "all_reduce sweep (no training)")
    p.add_argument("--quick", action="store_true", help="with --accept: a subset of the parts (20 s)")
    # Test hook, off unless given: --accept with the CPU's sizes on any device (a CUDA simulation on a CPU).
    p.add_argument("--small-sizes", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--sample-period", type=float, default=0.25)
    # Multi-node: the controller starts this script on every host with the same --nnodes/--master-*.
    p.add_argument("--nnodes", type=int, default=1)
    p.add_argument("--node-rank", type=int, default=0)
    p.add_argument("--master-addr", default="127.0.0.1")
    p.add_argument("--master-port", type=int, default=None)
    p.add_argument("--iface", default=None, help="network interface for NCCL/gloo between nodes")
    # Test hook, off unless given: process RANK raises a simulated out-of-memory error at its third timed step.
    p.add_argument("--inject-failure", type=int, default=None, metavar="RANK", help=argparse.SUPPRESS)
    # Test hook, off unless given: the parent's main thread blocks for good once the workers run (the watchdog's case).
    p.add_argument("--inject-parent-hang", action="store_true", help=argparse.SUPPRESS)
    # Test hook, off unless given: process RANK never takes its part in the all-reduce bandwidth test (a hung peer).
    p.add_argument("--inject-collective-hang", type=int, default=None, metavar="RANK", help=argparse.SUPPRESS)
    p.add_argument("--collective-wait", type=float, default=COLLECTIVE_WAIT_S, help=argparse.SUPPRESS)
    p.add_argument("--workdir", default=None, help=argparse.SUPPRESS)  # set by the re-exec: ours to remove
    p.add_argument("--t-start", type=float, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def resolve_defaults(a):
    cpu = a.device == "cpu"
    a.arch = a.arch or ("resnet18" if cpu else "resnet50")
    a.image_size = a.image_size or (32 if cpu else 224)
    a.steps = a.steps if a.steps is not None else (10 if cpu else 200)
    a.warmup = a.warmup if a.warmup is not None else (2 if cpu else 15)
    if a.time_budget is None and a.accept:
        a.time_budget = ACCEPT_QUICK_BUDGET_S if a.quick else ACCEPT_BUDGET_S
    if a.time_budget is None:
        a.time_budget = COMPILE_BUDGET_S if a.compile else DEFAULT_BUDGET_S
    if a.accept:
        a.ddp = True  # the workers meet for the all_reduce sweep, and one rank's failure ends the group
    if a.nnodes > 1:
        a.ddp = True  # across nodes there is only one job
    if a.precision == "auto":
        # The published ResNet-50 figures are fp16 (cuDNN BatchNorm); torch 2.14 runs bf16 BatchNorm on its
        # native kernels (torch._C._select_batch_norm_backend), so bf16 is an option, not the verdict's default.
        # CPU autocast is slow without bf16 hardware; the CPU run proves the path only.
        a.precision = "fp32" if cpu else "fp16"
    return a
