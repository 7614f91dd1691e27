"""Where a solution notebook becomes the student version, and what grading keeps of it.

* `release`  the pure notebook transformation (nbgrader's preprocessors as a library)
* `manifest` the grading manifest: what the grader keeps from source/ (never inside release/)
* `publish`  writing release/ and keeping the manifests (`autograder release`)
"""
