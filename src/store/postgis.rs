//! The PostGIS backend: `geometry(Point, 4326)` with GiST, the H3 cell as `bigint`, batched
//! inserts through UNNEST. Refuses to start when `fsync` or `synchronous_commit` is off.
