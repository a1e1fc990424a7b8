-- The marketplace's browse categories. The pipeline files images under them by zero-shot CLIP prompts
-- (gpu-worker/ml/data/categories.json has a prompt list for each slug), so they are reference data,
-- not demo data. Existing rows (e.g. renamed by an admin) are kept.
INSERT INTO "categories" ("slug", "name", "sort_order") VALUES
  ('nature', 'Nature', 0),
  ('people', 'People', 1),
  ('business', 'Business', 2),
  ('food', 'Food', 3),
  ('animals', 'Animals', 4),
  ('architecture', 'Architecture', 5),
  ('technology', 'Technology', 6),
  ('travel', 'Travel', 7),
  ('sports', 'Sports', 8),
  ('abstract', 'Abstract', 9),
  ('science', 'Science', 10),
  ('transport', 'Transport', 11),
  ('health', 'Health & medicine', 12),
  ('education', 'Education', 13),
  ('fashion', 'Fashion', 14),
  ('holidays', 'Holidays & celebrations', 15),
  ('interiors', 'Interiors', 16),
  ('industry', 'Industry', 17),
  ('arts', 'Arts & culture', 18)
ON CONFLICT ("slug") DO NOTHING;
