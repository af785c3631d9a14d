"""One host's evidence to its verdict: gathering the probe's output into a Bundle (gather, bundle, paste),
the check catalog and how checks run (catalog), the evidence the checks share (torch_evidence, cuda_compat,
security_bulletins, docker_daemon), and the root cause and conclusion drawn from their results."""
