"""The proof-run's verdict: pure, from the script's result document to per-GPU and per-host judgements.

Each judgement is a CheckResult (same shape as the diagnosis checks): GPU used, correct, fast enough
against the published baseline, utilisation steady (input-bound when the data shows it), no throttling,
and per host: the run itself, GPUs within 10% of each other, the input pipeline (--dataloader).
Missing evidence gives `unknown`, never `pass`.
"""

from __future__ import annotations

import math
import re
import statistics

from envdoctor.knowledge import load
from envdoctor.models import (Advice, Baseline, CheckResult, Fix, GpuVerdict, InputPipeline, OtherProcess, Status,
                              Verdict, host_status)
from envdoctor.proof.input_pipeline import dataloader_advice, dataloader_figures, gpu_waits_for_data
from envdoctor.proof.input_pipeline import median as _median
from envdoctor.proof.input_pipeline import mib as _mib
from envdoctor.proof.script.contract import COLLECTIVE_PHASES, COMPILE_BUDGET_S, MIN_LOSSES, MIN_TIMED_STEPS
from envdoctor.vocabulary import problem_reason_keys

PASS_RATIO = 0.7  # of the published img/s: pass at or above
WARN_RATIO = 0.4  # warn from here up to PASS_RATIO; fail below
BALANCE_TOLERANCE = 0.10  # GPUs of one host within 10% of each other
STEADY_MEDIAN_UTIL = 85  # % utilisation a busy training step keeps
LOW_UTIL = 50  # a sample below this is a dip
DIP_SHARE = 0.10  # more than this share of dips is "not steady"
THROTTLE_FAIL_SHARE = 0.10
LOSS_FALL = 0.8  # mean loss of the last third must be at most 0.8x that of the first third
# Clock-event reasons that mean the GPU slowed itself down: `problem: true` in data/clock_event_reasons.yaml, the
# table the script names NVML's bits from. A software power cap under full load is the GPU running at its power
# limit: reported, not judged.
THROTTLE_PROBLEMS = problem_reason_keys()

_TITLES = {
    "proof_ran": "The proof-run completed",
    "proof_process": "The training process reported its result",
    "proof_device": "The proof-run trained on a GPU",
    "proof_gpu_used": "The GPU did the training",
    "proof_correct": "Training is numerically correct",
    "proof_fast_enough": "Training speed against the published figure",
    "proof_utilisation": "GPU utilisation steady under load",
    "proof_throttling": "No thermal or power throttling under load",
    "proof_balance": "The host's GPUs perform alike",
    "proof_input_pipeline": "The input pipeline keeps up with the GPU",
    "proof_ordinals": "Every requested GPU is a device CUDA has",
}


def _r(check_id: str, status: Status, summary: str, evidence: list[str] | None = None, cause: str | None = None,
       fix: Fix | None = None) -> CheckResult:
    # An empty line of evidence would print as an empty bullet: only lines that say something.
    return CheckResult(id=check_id, title=_TITLES[check_id], status=status, summary=summary,
                       evidence=[e for e in evidence or [] if e and e.strip()], cause=cause, fix=fix)


# ---------------------------------------------------------------- baselines

def run_precision(precision: str | None) -> str | None:
    """The baseline column a run is compared with: autocast (bf16 or fp16) -> "mixed"; fp32 -> "fp32"."""
    if precision in ("bf16", "fp16", "mixed", "amp"):
        return "mixed"
    return precision


def find_baselines(gpu_name: str | None, precision: str | None, table: dict | None = None) -> list[dict]:
    """Matching published figures, the reference first. Each gets its source's url/what/date attached."""
    if not gpu_name:
        return []
    table = table or load("resnet_baselines")
    want = run_precision(precision)
    out = []
    for b in table.get("baselines", []):
        if b.get("precision") != want:
            continue
        if any(re.search(p, gpu_name, re.IGNORECASE) for p in b.get("match", [])):
            src = table.get("sources", {}).get(b.get("source"), {})
            out.append({**b, "url": src.get("url"), "source_what": src.get("what"), "source_date": src.get("date")})
    return out


# ---------------------------------------------------------------- per-GPU judgements

def _losses_verdict(w: dict, cpu: bool = False) -> CheckResult:
    losses = w.get("losses") or []
    mm = w.get("matmul") or {}
    ev = []
    if mm:
        what = "fp32 matmul 256x256 on the CPU vs float64" if cpu else "matmul 256x256 on the device vs CPU float64"
        ev.append(f"{what}: max relative error {mm.get('max_rel_err'):.2e}")
    bad = [i for i, v in enumerate(losses) if v is None or not math.isfinite(v)]
    if bad:
        return _r("proof_correct", Status.FAIL, f"the loss became non-finite at step {bad[0]} ({losses[bad[0]]})",
                  ev + [f"losses: {_fmt_list(losses)}"],
                  cause="NaN/inf during training: broken kernels, bad hardware, or an unstable mixed-precision setup",
                  fix=Fix(summary="Re-run with --precision fp32 (script option) to separate numerics from hardware; "
                                  "check the GPU's health (Xid errors, ECC) with `envdoctor check`.", manual=True))
    if mm and not mm.get("ok"):
        return _r("proof_correct", Status.FAIL, "a matmul on the device disagrees with the CPU result", ev,
                  cause="wrong results from the GPU: faulty hardware, or a library built for another GPU",
                  fix=Fix(summary="Run `envdoctor check` (Xid, ECC, torch arch list) and the vendor's diagnostics "
                                  "(dcgmi diag -r 3).", commands=["dcgmi diag -r 3"], manual=True))
    if len(losses) < MIN_LOSSES:
        return _r("proof_correct", Status.UNKNOWN, f"too few steps ({len(losses)}) to tell whether the loss falls",
                  ev + [f"losses: {_fmt_list(losses)}"])
    third = max(1, len(losses) // 3)
    first, last = statistics.fmean(losses[:third]), statistics.fmean(losses[-third:])
    ev.append(f"loss: first third mean {first:.4f}, last third mean {last:.4f} over {len(losses)} steps")
    if not mm:
        return _r("proof_correct", Status.UNKNOWN, "no matmul comparison in the result", ev)
    if last > LOSS_FALL * first:
        return _r("proof_correct", Status.FAIL, f"the loss did not fall on a learnable task ({first:.3f} -> {last:.3f})",
                  ev + [f"losses: {_fmt_list(losses)}"],
                  cause="the model does not learn: gradients or optimizer steps are not applied correctly on this device",
                  fix=Fix(summary="Re-run with more steps (--time-budget) and --precision fp32 (script option); "
                                  "if it still does not fall, the torch build or the device computes wrong results.",
                          manual=True))
    # On the CPU the matmul is compared with the CPU itself: saying it "matches the CPU" would be a tautology.
    tail = "fp32 matmul agrees with float64" if cpu else "matmul matches the CPU"
    return _r("proof_correct", Status.PASS, f"loss fell {first:.3f} -> {last:.3f}; {tail}", ev)


def _gpu_used(w: dict, samples: list[dict]) -> CheckResult:
    pdev = w.get("param_device") or ""
    mem = w.get("max_memory_allocated")
    utils = [s["util"] for s in samples if s.get("util") is not None]
    ev = [f"parameters on {pdev or '?'}", f"peak memory allocated by torch: {_mib(mem)}"]
    if utils:
        ev.append(f"NVML utilisation during timed steps: max {max(utils)}%")
    if not pdev.startswith("cuda"):
        return _r("proof_gpu_used", Status.FAIL, f"the model's parameters were on {pdev or 'an unknown device'}", ev)
    if mem is None:
        # Not reported (a result cut before the worker's report of it) is not "none allocated".
        if utils and max(utils) > 0:
            return _r("proof_gpu_used", Status.PASS, f"parameters on {pdev}, NVML saw it busy (max {max(utils)}%); "
                      "torch's peak memory was not reported", ev)
        return _r("proof_gpu_used", Status.UNKNOWN, f"parameters on {pdev}; torch's peak memory was not reported "
                  "and NVML utilisation was not sampled", ev)
    if not mem:
        return _r("proof_gpu_used", Status.FAIL, "torch allocated no GPU memory", ev)
    if utils and max(utils) == 0:
        return _r("proof_gpu_used", Status.FAIL, "NVML saw 0% utilisation on this GPU while it trained", ev,
                  cause="the work ran elsewhere (a different GPU than the one NVML reports for it?)")
    note = "" if utils else " (NVML utilisation not sampled)"
    return _r("proof_gpu_used", Status.PASS, f"parameters on {pdev}, {_mib(mem)} allocated{note}", ev)


def figure(img_s: float | None, w: dict) -> str:
    """A speed with what it was measured at: "2,790 img/s (fp16, batch 256)"."""
    if img_s is None:
        return "no img/s"
    return f"{img_s:,.0f} img/s ({w.get('precision') or '?'}, batch {w.get('batch_size') or '?'})"


# A GPU instance "3g.40gb", or a compute instance inside one, "1c.3g.40gb" (NVIDIA's MIG naming: 1 of the GPU
# instance's 3 compute slices). Either way the device's own SM count (torch's multi_processor_count) gives its share.
_MIG = re.compile(r"\bMIG\s+((?:\d+c\.)?\d+g\.\d+gb)\b", re.IGNORECASE)


def mig_profile(name: str | None) -> str | None:
    """"NVIDIA H100 80GB HBM3 MIG 1g.10gb" -> "1g.10gb", "... MIG 1c.3g.40gb" -> "1c.3g.40gb"; None for a whole GPU."""
    m = _MIG.search(name or "")
    return m.group(1) if m else None


def mig_kind(profile: str) -> str:
    """"1c.3g.40gb" -> "compute instance 1c of GPU instance 3g.40gb"; "3g.40gb" -> "GPU instance 3g.40gb"."""
    m = re.match(r"(\d+)c\.(.+)$", profile)
    return f"compute instance {m.group(1)}c of GPU instance {m.group(2)}" if m else f"GPU instance {profile}"


def full_gpu_sms(name: str | None, table: dict | None = None) -> dict | None:
    """The whole GPU's SM count for a (MIG) device name, with its source; None when the table has none."""
    table = table or load("resnet_baselines")
    for e in table.get("sm_counts", []):
        if any(re.search(p, name or "", re.IGNORECASE) for p in e.get("match", [])):
            src = table.get("sm_sources", {}).get(e.get("source"), {})
            return {**e, "url": src.get("url"), "source_what": src.get("what")}
    return None


def other_processes(others: list[OtherProcess]) -> str:
    """"pid 4242 (python3, 20,480 MiB), pid 77 (?)": the compute processes found on a GPU before the proof's."""
    parts = []
    for p in others:
        used = f", {p.used_mib:,} MiB" if p.used_mib is not None else ""
        parts.append(f"pid {p.pid} ({p.name or '?'}{used})")
    return ", ".join(parts)


def _fast_enough(w: dict, result: dict, table: dict | None,
                 others: list[OtherProcess] = ()) -> tuple[CheckResult, Baseline | None, float | None]:
    img_s = w.get("img_s")
    name = w.get("name")
    prec = w.get("precision")
    timed = (w.get("phases") or {}).get("timed") or {}
    fig = figure(img_s, w)
    if img_s is None:
        return _r("proof_fast_enough", Status.UNKNOWN, "no timed steps completed"), None, None
    if result.get("arch") != "resnet50" or result.get("image_size") != 224:
        return _r("proof_fast_enough", Status.UNKNOWN,
                  f"{fig}; the published figures are for resnet50 at 224x224, "
                  f"this run was {result.get('arch')} at {result.get('image_size')}x{result.get('image_size')}"), None, None
    if (timed.get("steps") or 0) < MIN_TIMED_STEPS:
        return _r("proof_fast_enough", Status.UNKNOWN,
                  f"only {timed.get('steps') or 0} timed steps ({fig}): too few to judge the speed",
                  [f"at least {MIN_TIMED_STEPS} timed steps are needed; raise --time-budget"]), None, None
    refs = find_baselines(name, prec, table)
    if not refs:
        return _r("proof_fast_enough", Status.UNKNOWN,
                  f"{fig}; no published ResNet-50 figure for '{name}' at {run_precision(prec)} "
                  "precision, so its speed is not judged",
                  [f"GPU name: {name}", "add a figure with its source to envdoctor/data/resnet_baselines.yaml"]), None, None
    ref = refs[0]
    expected, scale_ev = float(ref["img_s"]), []
    profile = mig_profile(name)
    if profile:
        # A MIG slice has a share of the GPU's SMs: judged against that share of the whole GPU's figure.
        whole = full_gpu_sms(name, table)
        sms = w.get("sm_count")
        if not whole or not sms:
            why = "its SM count was not reported" if not sms else f"the whole {ref['gpu']}'s SM count is not in the table"
            return _r("proof_fast_enough", Status.UNKNOWN,
                      f"{fig} on MIG slice {profile}: not judged against the whole GPU's "
                      f"{ref['img_s']:,} img/s ({why}; unknown, not scaled)",
                      [f"GPU name: {name}", f"SMs of this slice: {sms or '?'}"]), None, None
        share = sms / whole["sms"]
        expected = ref["img_s"] * share
        scale_ev = [f"MIG slice {profile} ({mig_kind(profile)}): {sms} of {whole['sms']} SMs ({share:.0%}); "
                    "the published figure is scaled "
                    f"by that share to {expected:,.0f} img/s (whole-GPU SMs: {whole.get('source_what')}: {whole.get('url')})"]
    ratio = img_s / expected
    ev = [f"measured: {img_s:,.1f} img/s per GPU, {prec}{' with a GradScaler' if w.get('grad_scaler') else ''}, "
          f"batch {w.get('batch_size')} ({w.get('batch_size_from') or '?'}), "
          f"{timed.get('steps')} timed steps{', torch.compile' if result.get('compile') else ''}",
          f"published: {ref['img_s']:,} img/s ({ref['gpu']}, {ref['precision']}) — {ref.get('source_what')}, "
          f"{ref.get('source_date')}: {ref.get('url')}"] + scale_ev
    for other in refs[1:]:
        ev.append(f"also published: {other['img_s']:,} img/s — {other.get('source_what')}: {other.get('url')}")
    base = Baseline(gpu=ref["gpu"], precision=ref["precision"], img_s=ref["img_s"], url=ref.get("url"),
                    date=ref.get("source_date"))
    if profile:
        base.mig_profile, base.scaled_img_s, base.scaled_by = profile, round(expected, 1), "SM share"
        msg = (f"{fig} = {ratio:.2f}x the published {ref['img_s']:,} img/s for {ref['gpu']} scaled to MIG {profile} "
               f"by its SM share ({expected:,.0f} img/s)")
    else:
        msg = f"{fig} = {ratio:.2f}x the published {ref['img_s']:,} img/s for {ref['gpu']}"
    if ratio >= PASS_RATIO:
        return _r("proof_fast_enough", Status.PASS, msg, ev), base, ratio
    fix = Fix(summary="Look at the utilisation and throttling results: a slow GPU is usually throttled (power, "
                      "heat), shared with another process, in a slow PCIe slot, or starved by the host.",
              commands=["nvidia-smi -q -d PERFORMANCE,CLOCK,POWER", "nvidia-smi --query-compute-apps=pid,name --format=csv"],
              manual=True)
    status = Status.WARN if ratio >= WARN_RATIO else Status.FAIL
    cause = "the GPU trains slower than the same model does elsewhere"
    msg += f" (below {PASS_RATIO}x)"
    if others:
        # What else was computing on this GPU is the first thing to rule out: named, with its memory.
        named = other_processes(others)
        msg += f"; {len(others)} other compute process(es) were already on this GPU: {named}"
        ev.append(f"compute processes on this GPU before the proof started (NVML): {named}")
        cause = "the GPU was shared: another compute process was running on it (" + named + ")"
    return _r("proof_fast_enough", status, msg, ev, cause=cause, fix=fix), base, ratio


def _utilisation(w: dict, samples: list[dict], sampler: str | None, sampler_error: str | None) -> CheckResult:
    rows = [s for s in samples if s.get("phase") == "timed"]
    timed = [s["util"] for s in rows if s.get("util") is not None]
    if not sampler:
        return _r("proof_utilisation", Status.UNKNOWN, "GPU utilisation was not sampled",
                  [f"sampler: {sampler_error or 'none available'}"], )
    if rows and not timed:
        # Samples were taken, none with a utilisation: NVML has none to give (on a MIG-enabled GPU
        # nvmlDeviceGetUtilizationRates is not supported), however long the run.
        profile = mig_profile(w.get("name"))
        why = (f"NVML reports no utilisation for MIG devices ({w.get('name')})" if profile
               else f"NVML answered no utilisation for this GPU in {len(rows)} samples")
        return _r("proof_utilisation", Status.UNKNOWN, why + "; utilisation not judged",
                  [f"{len(rows)} samples ({sampler}) during the timed steps, none with a utilisation"])
    if len(timed) < 4:
        return _r("proof_utilisation", Status.UNKNOWN,
                  f"only {len(timed)} utilisation samples during the timed steps (too short a run)")
    med = statistics.median(timed)
    dips = sum(1 for u in timed if u < LOW_UTIL) / len(timed)
    ev = [f"{len(timed)} samples ({sampler}): median {med:.0f}%, min {min(timed)}%, "
          f"{dips:.0%} of samples below {LOW_UTIL}%"]
    if dips > DIP_SHARE:
        return _r("proof_utilisation", Status.WARN,
                  f"utilisation dips ({dips:.0%} of samples below {LOW_UTIL}%) although the data was already on the GPU",
                  ev, cause="not the input pipeline (synthetic data lives on the GPU): another process on this GPU, "
                            "CPU contention on the host, or clocks dropping",
                  fix=Fix(summary="See what else runs on the GPU and the host.",
                          commands=["nvidia-smi --query-compute-apps=pid,name,used_memory --format=csv", "top"],
                          manual=True))
    if med < STEADY_MEDIAN_UTIL:
        return _r("proof_utilisation", Status.WARN, f"steady but only {med:.0f}% busy", ev,
                  cause="each step leaves the GPU idle part of the time: a small batch or a slow host CPU "
                        "launching kernels")
    return _r("proof_utilisation", Status.PASS, f"steady at {med:.0f}% (min {min(timed)}%)", ev)


def _throttling(samples: list[dict], sampler: str | None) -> CheckResult:
    rows = [s for s in samples if s.get("phase") in ("timed", "dataloader")]
    with_reasons = [s for s in rows if s.get("reasons") is not None]
    if not sampler or not with_reasons:
        return _r("proof_throttling", Status.UNKNOWN, "clock-event (throttle) reasons were not sampled",
                  [f"sampler: {sampler or 'none'}"])
    bad = [s for s in with_reasons if THROTTLE_PROBLEMS & set(s["reasons"])]
    cap = sum(1 for s in with_reasons if "sw_power_cap" in s["reasons"]) / len(with_reasons)
    temps = [s["temp_c"] for s in rows if s.get("temp_c") is not None]
    clocks = [s["sm_mhz"] for s in rows if s.get("sm_mhz") is not None]
    power = [s["power_w"] for s in rows if s.get("power_w") is not None]
    ev = []
    if temps:
        ev.append(f"temperature max {max(temps)} C")
    if clocks:
        ev.append(f"SM clock min {min(clocks)} MHz, median {statistics.median(clocks):.0f} MHz")
    if power:
        ev.append(f"power max {max(power):.0f} W")
    ev.append(f"at the software power cap in {cap:.0%} of samples")
    if not bad:
        return _r("proof_throttling", Status.PASS, "no thermal or hardware slowdown while loaded", ev)
    share = len(bad) / len(with_reasons)
    names = sorted({n for s in bad for n in s["reasons"] if n in THROTTLE_PROBLEMS})
    ev.insert(0, f"{', '.join(names)} in {len(bad)} of {len(with_reasons)} samples")
    return _r("proof_throttling", Status.FAIL if share > THROTTLE_FAIL_SHARE else Status.WARN,
              f"the GPU slowed itself down ({', '.join(names)}) in {share:.0%} of samples", ev,
              cause="thermal: poor airflow, a failed fan, a hot room; hardware slowdown/power brake: the power "
                    "supply or the chassis asserting slowdown",
              fix=Fix(summary="Check cooling and power; compare with `nvidia-smi -q -d PERFORMANCE,TEMPERATURE`.",
                      commands=["nvidia-smi -q -d PERFORMANCE,TEMPERATURE,POWER"], manual=True))


def _input_pipeline(w: dict, samples: list[dict],
                    cpu: bool = False) -> tuple[CheckResult | None, InputPipeline | None]:
    dl = (w.get("phases") or {}).get("dataloader")
    if dl is None:
        return None, None
    if dl.get("error"):
        return _r("proof_input_pipeline", Status.FAIL, f"the DataLoader failed: {dl['error']}",
                  [f"workers {dl.get('workers')}, /dev/shm {_mib(dl.get('shm_bytes'))}"],
                  cause="DataLoader workers could not pass batches (often a /dev/shm too small, as in a container "
                        "started without --shm-size or --ipc=host)",
                  fix=Fix(summary="Give the container more shared memory (docker run --shm-size=16g or --ipc=host).",
                          playbook="docker-shm.yml")), None
    synth = w.get("img_s")
    got = dl.get("img_s")
    if not synth or not got:
        return _r("proof_input_pipeline", Status.UNKNOWN, "no timed DataLoader steps"), None
    fig = dataloader_figures(dl, samples, synth, "cpu" if cpu else "cuda")
    advice = dataloader_advice(fig)
    ratio = got / synth
    util = f"{fig['util_median']:.0f}%" if fig["util_median"] is not None else "not sampled"
    ev = [f"per batch: data {fig['data_ms']} ms, step {fig['step_ms']} ms (compute {fig['compute_ms']} ms), "
          f"{fig['data_share']:.0%} of the step waiting for data; GPU utilisation {util}",
          f"DataLoader: {figure(got, w)} with num_workers={dl.get('workers')}, pin_memory={dl.get('pin_memory')}, "
          f"persistent_workers={dl.get('persistent_workers')}, prefetch_factor={dl.get('prefetch_factor')}, "
          f"{dl.get('cpus')} CPUs, /dev/shm {_mib(dl.get('shm_bytes'))}",
          f"same step on data already in place: {figure(synth, w)} (ratio {ratio:.2f})"]
    ev += [f"change {a['setting']}: {a['now']} -> {a['suggest']} ({a['because']})" for a in advice]
    info = InputPipeline(figures=fig, advice=[Advice(**a) for a in advice], gpu_waits_for_data=gpu_waits_for_data(fig))
    if cpu:
        return _r("proof_input_pipeline", Status.SKIP, f"not judged on --device cpu (the DataLoader workers share "
                  f"the CPUs with training): data {fig['data_ms']} ms, step {fig['step_ms']} ms per batch", ev), info
    if info.gpu_waits_for_data:
        return _r("proof_input_pipeline", Status.WARN,
                  f"input-bound: the GPU waits for data {fig['data_share']:.0%} of each step; the DataLoader feeds "
                  f"{ratio:.2f}x of what the GPU can train", ev,
                  cause="the host's CPUs (decode/augment in workers) or shared memory cannot keep the GPU busy",
                  fix=Fix(summary="Change: " + "; ".join(f"{a['setting']} {a['now']} -> {a['suggest']}" for a in advice),
                          manual=True)), info
    return _r("proof_input_pipeline", Status.PASS, f"the DataLoader keeps up ({ratio:.2f}x of on-device data; "
              f"data {fig['data_ms']} ms of a {fig['step_ms']} ms step)", ev), info


# ---------------------------------------------------------------- per host

def judge(result: dict | None, *, allow_cpu: bool = False, baselines: dict | None = None) -> Verdict:
    """The verdict on one host's result document (the script's last JSON line)."""
    host_checks: list[CheckResult] = []
    gpus: list[GpuVerdict] = []
    if not result:
        host_checks.append(_r("proof_ran", Status.FAIL, "the proof script returned no result"))
        return _finish(host_checks, gpus, result or {})
    workers = result.get("workers") or []
    if result.get("ended_by") == "deadline" and not workers:
        # The budget ran out before any training process was started or reported: nothing is known of the GPU.
        host_checks.append(_r("proof_ran", Status.UNKNOWN,
                              f"the time budget ({result.get('time_budget_s'):g} s) ended the run while the proof "
                              f"script was {result.get('parent_phase') or 'starting'}, before any training process "
                              "reported; raise --time-budget",
                              [e for e in [result.get("error"), f"ended after {result.get('elapsed_s')} s"] if e],
                              fix=Fix(summary="Re-run with a larger --time-budget.", manual=True)))
        return _finish(host_checks, gpus, result)
    if result.get("compile_unavailable"):
        # Nothing ran: a missing compiler is the target's toolchain, not its GPU.
        tools = result.get("compile_toolchain") or {}
        host_checks.append(_r("proof_ran", Status.UNKNOWN, f"{result['compile_unavailable']}; not run, not a GPU failure",
                              [f"C compiler: {tools.get('cc') or 'none'}", f"Python.h: {tools.get('python_h') or 'none'}"],
                              fix=_TOOLCHAIN_FIX))
        return _finish(host_checks, gpus, result)
    if result.get("error"):
        host_checks.append(_r("proof_ran", Status.FAIL, f"the proof-run could not start: {result['error']}",
                              [result["error"]], cause="torch/torchvision cannot train on this host as it is",
                              fix=Fix(summary="Run `envdoctor check` for the cause (driver, CUDA, torch build).",
                                      commands=["envdoctor check"])))
        return _finish(host_checks, gpus, result)
    if not workers:
        host_checks.append(_r("proof_ran", Status.FAIL, "the proof-run reported no training process",
                              [f"world size {result.get('world_size')}, elapsed {result.get('elapsed_s')} s"],
                              cause="the script started but no worker result came back"))
        return _finish(host_checks, gpus, result)
    errors = [w for w in workers if w.get("error")]
    cut = [w for w in errors if w.get("cut_by_budget")]
    first_failed = next((w for w in workers if w.get("rank") == result.get("failed_rank")), None)
    # The rank that ended the group speaks first; a collective that timed out is named when it is that rank's error.
    hung = (first_failed if first_failed is not None and first_failed.get("hung_collective") else
            None if first_failed is not None else next((w for w in errors if w.get("hung_collective")), None))
    toolchain = [w for w in errors if _toolchain_error(w.get("error"))]
    if result.get("compile") and toolchain and all(w in toolchain or w.get("stopped") for w in errors):
        host_checks.append(_r("proof_ran", Status.UNKNOWN,
                              "`--compile` needs gcc and Python headers on the target: "
                              f"{toolchain[0]['error']}; not a GPU failure",
                              [f"process {w.get('rank')}: {w['error']}" for w in toolchain], fix=_TOOLCHAIN_FIX))
    elif hung is not None:
        host_checks.append(_hung_collective(hung, result))
    elif result.get("compile") and (result.get("timed_out") or cut) and len(cut) == len(errors):
        # A cold torch.compile that does not fit says nothing about the GPU: unknown, with what to do.
        host_checks.append(_r("proof_ran", Status.UNKNOWN,
                              f"torch.compile needs a larger --time-budget than {result.get('time_budget_s'):g} s "
                              f"({len(cut)} of {len(workers)} processes had no timed result); not a GPU failure",
                              [f"process {w.get('rank')}: last phase reached {_last_phase(w)}" for w in cut],
                              fix=Fix(summary="Re-run with a larger --time-budget (the default with --compile is "
                                              f"{COMPILE_BUDGET_S:g} s) or without --compile.", manual=True)))
    elif cut and len(cut) == len(errors) and all(_judgeable(w) for w in cut):
        # The budget ended the run after the timed steps (during the DataLoader phase, say): what ran is judged.
        host_checks.append(_r("proof_ran", Status.WARN,
                              f"the time budget ({result.get('time_budget_s'):g} s) ended {len(cut)} of {len(workers)} "
                              "process(es) after their timed steps; the phases before are judged",
                              [f"process {w.get('rank')}: last phase reached {_last_phase(w)}" for w in cut],
                              fix=Fix(summary="Raise --time-budget to see the rest.", manual=True)))
    elif cut and len(cut) == len(errors) and not any(_judgeable(w) for w in cut):
        # Out of time before any timed step: nothing says the GPU is broken (a busy host, a slow start).
        waiting = sorted({_last_phase(w) for w in cut if _last_phase(w) in COLLECTIVE_PHASES})
        in_collective = (f", waiting in {', '.join(waiting)} for the other processes (if it stops there again, "
                         "that collective hangs between GPUs: P2P/IOMMU)") if waiting else ""
        host_checks.append(_r("proof_ran", Status.UNKNOWN,
                              f"the time budget ({result.get('time_budget_s'):g} s) ended the run before any timed step "
                              f"({len(cut)} of {len(workers)} process(es)){in_collective}; raise --time-budget",
                              [f"process {w.get('rank')}: last phase reached {_last_phase(w)}" for w in cut],
                              fix=Fix(summary="Re-run with a larger --time-budget; if it stops in the same phase "
                                              "again, that phase hangs.", manual=True)))
    elif first_failed is not None:
        host_checks.append(_r("proof_ran", Status.FAIL,
                              f"process {first_failed.get('rank')} (device {first_failed.get('device_index')}) failed: "
                              f"{first_failed.get('error')}; the group was ended at once",
                              [_last_line(first_failed.get("traceback")),
                               *[f"process {w.get('rank')}: {w['error']}" for w in errors if w is not first_failed]],
                              cause="out of memory, a CUDA error or an NCCL error on that process",
                              fix=Fix(summary="Read the error above; lower --batch-size for out-of-memory.", manual=True)))
    elif result.get("timed_out") or errors:
        ev = [f"process {w.get('rank')} (device {w.get('device_index')}): {w['error']}" for w in errors]
        ev += [_last_line(w.get("traceback")) for w in errors if w.get("traceback")]
        if result.get("timed_out"):
            ev.append(f"the run passed its time budget ({result.get('time_budget_s')} s)")
        host_checks.append(_r("proof_ran", Status.FAIL,
                              f"{len(errors)} of {len(workers)} training processes failed"
                              + (" (time budget exceeded)" if result.get("timed_out") else ""), [e for e in ev if e],
                              cause="see the error: out of memory, a CUDA error, an NCCL error between GPUs, "
                                    "or a run too long for --time-budget",
                              fix=Fix(summary="Read the error above; raise --time-budget for --compile; lower "
                                              "--batch-size for out-of-memory.", manual=True)))
    elif untimed := [w for w in workers if not _judgeable(w)]:
        # Every process ended in time, but one reached no timed step: its speed and its loss are not evidence.
        host_checks.append(_r("proof_ran", Status.UNKNOWN,
                              f"the run ended within its time budget ({result.get('time_budget_s'):g} s) before "
                              f"{len(untimed)} of {len(workers)} process(es) completed a timed step: it proved "
                              "nothing; raise --time-budget",
                              [f"process {w.get('rank')}: {len(w.get('losses') or [])} untimed step(s)"
                               + (f", the first took {w['first_step_s']:g} s" if w.get("first_step_s") else "")
                               for w in untimed],
                              fix=Fix(summary="Re-run with a larger --time-budget.", manual=True)))
    else:
        host_checks.append(_r("proof_ran", Status.PASS,
                              f"{len(workers)} process(es) trained {result.get('arch')} in {result.get('elapsed_s')} s"))

    if result.get("not_started"):
        lacking = result["not_started"]
        host_checks.append(_r("proof_ordinals", Status.WARN,
                              f"{len(lacking)} requested GPU ordinal(s) not started: CUDA enumerates "
                              f"{len(result.get('cuda_devices') or [])} device(s) in a process",
                              [m["reason"] for m in lacking]))
    cpu = result.get("device") == "cpu"
    if cpu:
        msg = (f"no GPU was used: this run trained {result.get('arch')} on the CPU (--device cpu); it proves the "
               "software path only, not a GPU")
        host_checks.append(_r("proof_device", Status.WARN if allow_cpu else Status.FAIL,
                              msg + (" (allowed by --allow-cpu)" if allow_cpu else ""),
                              [_where_parameters(w) for w in workers],
                              fix=None if allow_cpu else Fix(
                                  summary="Run the proof on the GPU (the default, --device cuda); `envdoctor check` "
                                          "says why torch cannot use one here.", commands=["envdoctor check"])))

    samples_by_rank = {g.get("rank"): g for g in result.get("gpus") or []}
    sampler, sampler_error = result.get("sampler"), result.get("sampler_error")
    for w in workers:
        g = samples_by_rank.get(w.get("rank")) or {}
        entry = GpuVerdict(rank=w.get("rank"), device_index=w.get("device_index"), name=w.get("name"),
                           precision=w.get("precision"), batch_size=w.get("batch_size"), img_s=w.get("img_s"),
                           device=result.get("device"), baseline=None, ratio=None, checks=[],
                           nvml_index=g.get("nvml_index"), uuid=g.get("uuid"))
        if g.get("other_processes"):
            entry.other_processes = [OtherProcess(**p) for p in g["other_processes"]]
        samples = g.get("samples") or []
        if w.get("error") and not (w.get("cut_by_budget") and _judgeable(w)):
            # Out of time (a cold torch.compile, a busy host, a collective still waiting at the budget's end, a
            # missing compiler for --compile) says nothing about the GPU.
            st = Status.UNKNOWN if (w.get("cut_by_budget") or w.get("collective_at_budget_end")
                                    or _toolchain_error(w.get("error"))) else Status.FAIL
            # Its own id: the host's proof_ran already says what ended the run; this says where this process was.
            where = f" (last phase reached: {_last_phase(w)})" if w.get("cut_by_budget") else ""
            entry.checks.append(_r("proof_process", st, w["error"] + where, [_last_line(w.get("traceback"))]))
        else:
            entry.checks.append(_losses_verdict(w, cpu))
            if not cpu:
                entry.checks.append(_gpu_used(w, samples))
                fast, entry.baseline, ratio = _fast_enough(w, result, baselines, entry.other_processes)
                entry.checks.append(fast)
                entry.ratio = round(ratio, 3) if ratio is not None else None
                entry.checks.append(_utilisation(w, samples, sampler, sampler_error))
                entry.checks.append(_throttling(samples, sampler))
            dl, dl_info = _input_pipeline(w, samples, cpu)
            if dl:
                entry.checks.append(dl)
            if dl_info:
                entry.dataloader = dl_info
            entry.utilisation_median = _median([s["util"] for s in samples
                                                if s.get("phase") == "timed" and s.get("util") is not None])
        entry.status = Status(host_status(entry.checks).value)
        gpus.append(entry)

    if not cpu:
        bal = _balance(gpus, result)
        if bal:
            host_checks.append(bal)
    return _finish(host_checks, gpus, result)


_TOOLCHAIN_FIX = Fix(summary="Install a C compiler and the Python headers on the target (gcc and python3-dev on "
                             "Debian/Ubuntu, gcc and python3-devel on RHEL), or run without --compile.", manual=True)


def _toolchain_error(error: str | None) -> bool:
    """Triton's own words when it cannot build its launcher (triton 3.8 runtime/build.py), or the compiler's."""
    e = error or ""
    return "Failed to find C compiler" in e or "Python.h: No such file" in e


def _hung_collective(w: dict, result: dict) -> CheckResult:
    name, waited = w.get("hung_collective"), w.get("waited_s")
    ev = [f"process {w.get('rank')} (device {w.get('device_index')}): {w.get('error')}",
          "collectives completed before it: " + (", ".join(f"{c.get('name')} {c.get('secs')} s"
                                                            for c in w.get("collectives") or []) or "none")]
    if w.get("collective_at_budget_end"):
        return _r("proof_ran", Status.UNKNOWN,
                  f"the time budget ({result.get('time_budget_s'):g} s) ended while process {w.get('rank')} waited "
                  f"{waited} s in {name} for the other processes; raise --time-budget (if it stops there again, "
                  "that collective hangs between GPUs: P2P/IOMMU)", ev,
                  fix=Fix(summary="Re-run with a larger --time-budget.", manual=True))
    return _r("proof_ran", Status.FAIL,
              f"process {w.get('rank')} waited {waited} s in {name} for the other processes: a hang between GPUs "
              "(peer-to-peer transfers blocked: IOMMU/ACS or a broken NVLink)", ev,
              cause="GPU-to-GPU (P2P) transfers hang: an IOMMU or PCIe ACS redirecting peer traffic, or a broken "
                    "NVLink; NCCL waits for data that never arrives",
              fix=Fix(summary="Confirm with peer-to-peer off (NCCL_P2P_DISABLE=1): if that run passes, disable the "
                              "IOMMU or ACS for the GPUs (iommu=pt / BIOS) or look at NVLink; see the GPU topology.",
                      commands=["nvidia-smi topo -m", "NCCL_P2P_DISABLE=1 all_reduce_perf -b 256M -e 256M -g $(nvidia-smi -L | wc -l)",
                                "sudo dmesg | grep -i -e iommu -e dmar -e AMD-Vi"], manual=True))


def _balance(gpus: list[GpuVerdict], result: dict) -> CheckResult | None:
    ok = [g for g in gpus if g.img_s]
    if len(ok) < 2:
        return None
    if result.get("mode") == "ddp":
        # DDP ranks move in lock-step, so img/s is equal by construction: compare how busy each GPU was.
        utils = {g.rank: g.utilisation_median for g in ok if g.utilisation_median is not None}
        if len(utils) < 2:
            return _r("proof_balance", Status.UNKNOWN, "DDP ranks are lock-stepped and utilisation was not sampled")
        lo, hi = min(utils.values()), max(utils.values())
        ev = [f"rank {r}: median utilisation {u:.0f}%" for r, u in sorted(utils.items())]
        if hi - lo > 100 * BALANCE_TOLERANCE:
            return _r("proof_balance", Status.WARN, f"median utilisation differs by {hi - lo:.0f} points across GPUs", ev,
                      cause="one GPU waits for a slower one (a throttled GPU, or a slower link between them)")
        return _r("proof_balance", Status.PASS, f"utilisation within {hi - lo:.0f} points across {len(utils)} GPUs", ev)
    hi = max(g.img_s for g in ok)
    slow = min(ok, key=lambda g: g.img_s)
    spread = (hi - slow.img_s) / hi
    ev = [f"{g.label} ({g.name}): {g.img_s:,.0f} img/s" for g in ok]
    if spread > BALANCE_TOLERANCE:
        smi = slow.smi_id
        return _r("proof_balance", Status.WARN,
                  f"{slow.label} is {spread:.0%} slower than the fastest GPU of this host", ev,
                  cause="a throttled or degraded GPU, a narrower PCIe link, or another process on it",
                  fix=Fix(summary="Compare the slow GPU's clocks, temperature and PCIe link with the others.",
                          commands=([f"nvidia-smi -q -i {smi} -d PERFORMANCE,TEMPERATURE,CLOCK"] if smi else []) +
                                   ["nvidia-smi --query-gpu=index,pcie.link.gen.current,pcie.link.width.current --format=csv"],
                          manual=True))
    return _r("proof_balance", Status.PASS, f"{len(ok)} GPUs within {spread:.0%} of each other", ev)


def _finish(host_checks: list[CheckResult], gpus: list[GpuVerdict], result: dict) -> Verdict:
    status = Status(host_status(host_checks + [c for g in gpus for c in g.checks]).value)
    if status != Status.FAIL and any(c.id == "proof_ran" and c.status == Status.UNKNOWN for c in host_checks):
        # A run that proved nothing is unknown (exit 3), whatever it warned about on the way (a CPU run, say).
        status = Status.UNKNOWN
    total = sum(g.img_s for g in gpus if g.img_s) or None
    return Verdict(status=status, summary=_summary(host_checks, gpus, result, total), host_checks=host_checks,
                   gpus=gpus, img_s_total=round(total, 1) if total else None,
                   time_to_verdict_s=result.get("elapsed_s") if result else None)


_SEVERITY = {Status.FAIL: 0, Status.WARN: 1, Status.UNKNOWN: 2}


def _by_severity(checks: list[CheckResult]) -> list[CheckResult]:
    """Failures before warnings (then unknowns), each group in its own order: a headline names the worst."""
    return sorted([c for c in checks if c.status in _SEVERITY], key=lambda c: _SEVERITY[c.status])


def _summary(host_checks: list[CheckResult], gpus: list[GpuVerdict], result: dict, total: float | None) -> str:
    problem = (Status.FAIL, Status.WARN)
    worst = [c for c in _by_severity(host_checks) if c.status in problem]
    every_gpu_check = [c for g in gpus for c in g.checks]
    if result.get("device") == "cpu":
        dev = next((c for c in host_checks if c.id == "proof_device"), None)
        fails = [c for c in _by_severity(host_checks + every_gpu_check)
                 if c.id != "proof_device" and (c.status == Status.FAIL or (c.id == "proof_ran" and
                                                                           c.status != Status.PASS))]
        if fails:  # the failure first, then that no GPU was used (a warning with --allow-cpu)
            return fails[0].summary + ("; " + dev.summary if dev else "")
        return dev.summary if dev else "ran on the CPU"
    if result.get("error") or not gpus:
        # Nothing trained: the host check that says why (an unknown one too: a missing compiler, a short budget).
        said = worst or [c for c in _by_severity(host_checks) if c.status == Status.UNKNOWN]
        return said[0].summary if said else "no result"
    names = sorted({g.name or "?" for g in gpus})
    ratios = [g.ratio for g in gpus if g.ratio is not None]
    precs = sorted({f"{g.precision}, batch {g.batch_size}" for g in gpus if g.img_s})
    parts = [f"{len(gpus)}x {', '.join(names)}",
             f"{total:,.0f} img/s ({'; '.join(precs)})" if total else "no img/s"]
    if ratios:
        parts.append(f"{min(ratios):.2f}x published" if len(ratios) == 1 else
                     f"{min(ratios):.2f}-{max(ratios):.2f}x published")
    problems = [c.summary for c in _by_severity(worst + every_gpu_check) if c.status in problem]
    if problems:
        parts.append(problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    return "; ".join(parts)


def _fmt_list(xs, n=12) -> str:
    xs = list(xs)
    shown = ", ".join(f"{x:.3f}" if isinstance(x, float) and math.isfinite(x) else str(x) for x in xs[:n])
    return shown + (f", ... ({len(xs)} in all)" if len(xs) > n else "")


def _judgeable(w: dict) -> bool:
    """A worker the budget cut after its timed steps: those steps are evidence."""
    return bool(((w.get("phases") or {}).get("timed") or {}).get("steps"))


def _where_parameters(w: dict) -> str | None:
    # A process cut before it built its model has no parameters anywhere: proof_ran says where it stopped.
    return f"process {w.get('rank')}: parameters on {w['param_device']}" if w.get("param_device") else None


def _last_phase(w: dict) -> str:
    if w.get("last_phase"):
        return w["last_phase"]
    phases = list((w.get("phases") or {}).keys())
    return phases[-1] if phases else ("set-up" if w.get("param_device") else "start-up")


def _last_line(tb: str | None) -> str:
    lines = [ln for ln in (tb or "").strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""
