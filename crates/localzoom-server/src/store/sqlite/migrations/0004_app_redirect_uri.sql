-- User-level OAuth apps redirect the browser back to the URI they registered.
ALTER TABLE apps ADD COLUMN redirect_uri TEXT;
