"""Where a submission runs.

The host side (this package's modules) starts, limits, watches and cleans up runs; `inside/` holds the
only modules that run in the student's process. The two talk through `autograder.wire.protocol` on a pipe.

* `limits`   every per-run limit, its default and its help text (the CLI's options are built from it)
* `launch`   one run: start it (forked from a warm interpreter, or spawned), feed it the job, watch it
* `warm`     the parent's handle on one warm interpreter (`WarmInterpreter`)
* `scratch`  the scratch root, the package shim and a run's working directory and environment
* `confine`  what confines a run (bubblewrap, cgroups, rlimits, uid), decided once per grader
* `pool`     which warm interpreters a batch keeps, started when
* `lifeline` what a killed grader leaves running is killed
"""
