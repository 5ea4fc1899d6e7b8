CREATE TABLE secrets (id TEXT PRIMARY KEY, value_sealed BLOB);
