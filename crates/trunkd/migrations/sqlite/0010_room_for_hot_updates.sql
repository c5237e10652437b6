-- trunkd schema, version 10: nothing to do on SQLite (issue 22).
-- PostgreSQL's version 10 leaves room on its pages for updates in place, against serialization
-- conflicts between concurrent writers; SQLite has one writer at a time. The version is kept
-- so both stores' schema versions count alike.
SELECT 1;
