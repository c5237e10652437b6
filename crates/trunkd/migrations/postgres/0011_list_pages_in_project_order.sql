-- trunkd schema, version 11: a project's ports and trunks indexed in id order (issue 22).
-- A project member's list is `WHERE project_id = ? ORDER BY id LIMIT ?` (ids are the default
-- sort and the paging marker). With an index on project_id alone the database found every row
-- of the project, computed each one's columns (a trunk's subports and tags, its parent's
-- status), sorted them all and kept one page, so paging through a project cost the square of
-- its size (trunkd-bench, 10,000 trunks 1,000 a page: p50 22-33 ms a page before, 13-14 ms
-- after). Indexed on (project_id, id), the rows come in page order and the scan stops at the
-- page's end, whatever the project holds.
DROP INDEX trunks_project;
CREATE INDEX trunks_project ON trunks (project_id, id);
DROP INDEX ports_project;
CREATE INDEX ports_project ON ports (project_id, id);
