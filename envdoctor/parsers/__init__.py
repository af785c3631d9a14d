"""Pure parsers: raw text (a probe section, a pasted block) -> values and typed facts. No I/O here.
What a Bundle's sections and pastes make of a host is envdoctor/diagnosis/host_facts/, built from these."""
