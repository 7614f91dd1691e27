"""What both sides of the sandbox import: how values cross it and how they are compared.

* `values`     plain-data encoding of values (JSON and ``.npy`` without pickle), both directions
* `compare`    structure, shapes, dtypes and numbers compared; the messages a student reads
* `tolerances` the dtype-keyed default tolerances (as `torch.testing.assert_close`)
* `seeding`    the seeds a test names, set the same way on both sides

Nothing here decides a verdict by itself inside the student's process: `autograder.grading.scoring`
calls `compare` on the trusted side with the reference's record.
"""
