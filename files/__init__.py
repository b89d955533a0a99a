"""Files: GridFS storage and /files routes (upload, download, share) — see the files issue."""
