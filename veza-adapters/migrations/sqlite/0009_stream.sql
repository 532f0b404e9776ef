-- The stream server's report on a track's HLS packaging; mirrors postgres/0009_stream.sql.
-- All NULL until it reports; `hls_url` is set exactly when the status is `ready`.
ALTER TABLE tracks ADD COLUMN stream_status TEXT CHECK (stream_status IN ('ready', 'failed'));
ALTER TABLE tracks ADD COLUMN hls_url TEXT;
ALTER TABLE tracks ADD COLUMN stream_error TEXT;
