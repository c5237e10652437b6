-- trunkd schema, version 3: the port-security extension.
-- A network's value is what ports created on it without one inherit; a port's own value is
-- kept on the port. Rows from before this version had no way to turn it off, so they are
-- port-security enabled, as Neutron's default is.
ALTER TABLE networks ADD COLUMN port_security_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE ports ADD COLUMN port_security_enabled BOOLEAN NOT NULL DEFAULT TRUE;
