-- The risk class the server's policy gave an approval (docs/policy.md): low, high or critical.
ALTER TABLE approvals ADD COLUMN risk TEXT NOT NULL DEFAULT 'high';
