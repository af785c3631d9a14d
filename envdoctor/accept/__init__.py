"""Node acceptance, the pure part: what a measured figure is judged against and how.

- skus: a GPU's entry in data/gpu_skus.yaml (peaks and pass/warn bars, each with its source)
- judge: one measured figure against its bar -> pass / warn / fail / unknown / skip (does not apply)
- allreduce: nccl-tests' algbw and busbw arithmetic for all_reduce
- counters: Xid, ECC, retired/remapped rows and throttle reasons before and after a run
- fleet: grey failures, each GPU's figure against the median of its SKU across a fleet

Nothing here does I/O beyond reading the data file; the measurements come from the acceptance run.
"""
