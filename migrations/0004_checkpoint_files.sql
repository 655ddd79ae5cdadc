-- Checkpoints move out of the database into files beside it (`<db>.checkpoints/`), streamed in
-- chunks on upload and download, never held whole in memory. A row names its file and size;
-- `data` keeps the checkpoints stored before this migration (new rows leave it empty).
ALTER TABLE checkpoints ADD COLUMN file TEXT;
ALTER TABLE checkpoints ADD COLUMN bytes INTEGER;
