-- SQLite is single-node: decisions reach waiting agents through the in-process bus. This
-- migration exists so that both backends have the same list (the PostgreSQL one adds a
-- trigger that NOTIFYs other nodes).
SELECT 1;
