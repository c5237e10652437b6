-- trunkd schema, version 10: room on each page for updates in place (issue 22).
-- At SERIALIZABLE, a write conflicts with another transaction's read when it puts an entry into
-- an index page that read visited. An update that changes no indexed column and finds room on
-- its row's page is "heap-only" (HOT): it adds no index entry at all. Ports, trunks and trunk
-- members are updated often (a trunk's revision and status, its parent's owner, a member's port
-- status) and their indexed columns seldom change, but tables packed full leave no room, so
-- every such update added entries to every index of the table, into pages that concurrent
-- writes on other trunks had read (their own ports and trunks are looked up by the same keys).
-- Pages written from now on are filled to 80 %; existing pages keep their fill until rewritten.
ALTER TABLE ports SET (fillfactor = 80);
ALTER TABLE trunks SET (fillfactor = 80);
ALTER TABLE trunk_members SET (fillfactor = 80);
