DROP TABLE approvals;
DROP TABLE sessions;
