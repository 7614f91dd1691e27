"""Where a verdict is decided, on the trusted side, and where the batch runs.

* `reference`  expected values: source/'s tests run against solutions/ in a separate process, cached
* `plan`       what a batch needs, computed once: manifests, expected values, limits
* `sanitize`   a submission rebuilt against the manifest (tampered cells restored)
* `scoring`    verdicts: recorded values compared with the reference's, under its tolerances
* `models`     a student's model rebuilt from plain data for `check_metric`
* `submission` one submission: read, restore, run in the sandbox, score
* `batch`      the batch here, on grading threads; `cluster` the same on a Dask cluster
* `verify`     tests of the tests (`autograder verify`)
"""
