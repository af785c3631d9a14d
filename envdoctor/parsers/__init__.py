"""Pure parsers: raw text (a probe section, a pasted block) -> values and typed facts. No I/O here.
The per-domain builders (`*_facts.py`) are put together into a host's facts by envdoctor/diagnosis/host_facts.py."""
