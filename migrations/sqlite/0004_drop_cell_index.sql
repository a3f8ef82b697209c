-- No query of kinga reads reports by cell (the engine computes cells itself; bbox reads use
-- reports_lat_lon), and each index costs every insert a B-tree update: the embedded store keeps
-- the column but drops the index. (PostGIS keeps it for analysts' SQL.)
DROP INDEX IF EXISTS reports_cell;
