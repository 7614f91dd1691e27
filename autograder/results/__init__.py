"""Where grades are stored and everything read out of them.

* `gradebook`  SQLAlchemy tables (SQLite by default, PostgreSQL by URL)
* `status`     what each stored status means, with its label
* `totals`     per-student totals with late penalties
* `disclosure` what a student may see of a graded notebook (hidden tests redacted)
* `export`     CSV, Gradescope results.json, Canvas import
* `feedback`, `report`, `manual`, `pages`  the HTML pages: per student, per class, hand grading
"""
