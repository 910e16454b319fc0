-- Trigram matching for the posts search indexes (posts_title_trgm_idx, posts_body_trgm_idx).
-- pg_trgm is a trusted extension: a database owner may create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
