# constructed: a "python" that writes without end, as `--python /usr/bin/yes` does (run as `sh flood.sh`).
exec yes envdoctor-test-flood
