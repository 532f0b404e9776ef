-- Index upkeep; mirrors sqlite/0011_track_index_upkeep.sql.
-- Whether a blob is still in use is asked of track_versions since 0010: this index is only
-- written, never read.
DROP INDEX tracks_blob_key_idx;
-- The title order compares keys byte-wise (COLLATE "C", the same order as SQLite's); an
-- index in the database's default collation cannot serve it, and every title page sorted
-- all listed tracks.
DROP INDEX tracks_listed_title_idx;
CREATE INDEX tracks_listed_title_idx ON tracks (status, visibility, title_key COLLATE "C", id);
